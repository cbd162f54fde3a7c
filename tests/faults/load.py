"""The load of a fault run: alert events (with duplicates and recoveries) and status updates,
paced over a fixed time, sent round-robin to the API processes, retried like a monitor would
(on 429/503/connection errors, honouring Retry-After), and everything recorded."""

from __future__ import annotations

import contextlib
import hashlib
import json
import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.support.alerts import dd, payload
from tests.support.server import http_client

SERVICES = [f"svc{i:02d}" for i in range(12)]
P1_USERS, P3_USERS = "1500", "50"
RETRY_FOR_S = 90.0  # a sender keeps retrying this long (PostgreSQL restarts take seconds)


@dataclass
class Event:
    """One request body; `dup` bodies repeat an earlier one byte for byte."""

    source: str
    body: dict[str, Any]
    service: str
    p1: bool
    firing: bool = True
    dup: bool = False

    @property
    def digest(self) -> str:
        return hashlib.sha256(json.dumps(self.body, sort_keys=True).encode()).hexdigest()


@dataclass
class Outcome:
    """What the load saw; every field is filled by the sender threads under `lock`."""

    statuses: Counter[int] = field(default_factory=Counter)
    kept: dict[tuple[str, str, str], set[str]] = field(default_factory=dict)  # (source, key, status) -> digests
    unanswered: list[str] = field(default_factory=list)  # bodies never answered 2xx
    bad: list[str] = field(default_factory=list)  # unexpected answers (500, 4xx)
    retry_after_missing: int = 0
    updates_ok: list[str] = field(default_factory=list)
    updates_attempts: Counter[str] = field(default_factory=Counter)
    p1_services: set[str] = field(default_factory=set)
    latencies: list[float] = field(default_factory=list)  # seconds, final answers only
    lock: threading.Lock = field(default_factory=threading.Lock)


def _datadog(key: int, service: str, users: str, transition: str) -> dict[str, Any]:
    tags = f"env:prod,service:{service},team:identity,users_per_hour:{users}"
    return dd(transition, alert_id=f"9{key:06d}", cycle=f"c{key}", tags=tags, event_id=f"{key}-{transition}")


def _alertmanager(key: int, service: str, users: str, status: str) -> dict[str, Any]:
    body = payload("alertmanager_firing")
    alert = body["alerts"][1]
    labels = {"alertname": f"Fault{key}", "service": service, "env": "production", "team": "identity"}
    alert.update(
        status=status,
        fingerprint=f"f{key:08x}",
        labels=labels,
        annotations={"summary": f"{service} errors ({key})", "users_per_hour": users},
        endsAt="2026-10-05T09:30:00Z" if status == "resolved" else "0001-01-01T00:00:00Z",
    )
    body.update(
        status=status,
        alerts=[alert],
        groupKey=f'{{}}:{{alertname="Fault{key}"}}',
        commonLabels=labels,
        groupLabels={"alertname": f"Fault{key}"},
    )
    return body


def scripts(events: int, seed: int = 7) -> list[list[Event]]:
    """One script per alert (sent in order): trigger, sometimes a renotify, often a recovery;
    about a quarter of the bodies are sent twice. Stops at `events` distinct events."""
    rng = random.Random(seed)
    out: list[list[Event]] = []
    total, key = 0, 0
    while total < events:
        key += 1
        service = SERVICES[key % len(SERVICES)]
        p1 = rng.random() < 0.7
        users = P1_USERS if p1 else P3_USERS
        steps: list[Event] = []
        if rng.random() < 0.5:
            steps.append(Event("datadog", _datadog(key, service, users, "Triggered"), service, p1))
            if rng.random() < 0.3:
                steps.append(Event("datadog", _datadog(key, service, users, "Renotify"), service, p1))
            if rng.random() < 0.6:
                steps.append(Event("datadog", _datadog(key, service, users, "Recovered"), service, p1, False))
        else:
            steps.append(Event("alertmanager", _alertmanager(key, service, users, "firing"), service, p1))
            if rng.random() < 0.6:
                steps.append(Event("alertmanager", _alertmanager(key, service, users, "resolved"), service, p1, False))
        steps = steps[: events - total]
        total += len(steps)
        script: list[Event] = []
        for ev in steps:
            script.append(ev)
            if rng.random() < 0.25:
                script.append(Event(ev.source, ev.body, ev.service, ev.p1, ev.firing, dup=True))
        out.append(script)
    return out


class Pacer:
    """Hands out send slots evenly over `seconds`."""

    def __init__(self, count: int, seconds: float) -> None:
        self.gap = seconds / max(count, 1)
        self.start = time.monotonic()
        self.n = 0
        self.lock = threading.Lock()

    def wait(self) -> None:
        with self.lock:
            at = self.start + self.n * self.gap
            self.n += 1
        delay = at - time.monotonic()
        if delay > 0:
            time.sleep(delay)


_local = threading.local()


def _client() -> httpx.Client:
    """One keep-alive client per sender thread (cheaper than a client per request)."""
    client: httpx.Client | None = getattr(_local, "client", None)
    if client is None:
        client = _local.client = http_client(timeout=30)
    return client


def _retry_wait(r: httpx.Response | None, out: Outcome) -> float:
    if r is None:
        return 0.3
    value = r.headers.get("retry-after")
    if value is None:
        with out.lock:
            out.retry_after_missing += 1
        return 1.0
    return min(float(value), 5.0)


def request(urls: list[str], method: str, path: str, *, out: Outcome, i: int, **kw: Any) -> httpx.Response | None:
    """Send until a final answer (anything but 429/502/503/504/connection error) or RETRY_FOR_S."""
    deadline = time.monotonic() + RETRY_FOR_S
    attempt = 0
    while time.monotonic() < deadline:
        url = urls[(i + attempt) % len(urls)]  # a retry goes to the other node, like a balancer would
        attempt += 1
        r: httpx.Response | None = None
        t0 = time.monotonic()
        with contextlib.suppress(httpx.HTTPError):
            r = _client().request(method, url + path, **kw)
        if r is not None:
            with out.lock:
                out.statuses[r.status_code] += 1
            if r.status_code not in (429, 502, 503, 504):
                with out.lock:
                    out.latencies.append(time.monotonic() - t0)
                return r
        time.sleep(_retry_wait(r, out))
    return None


def send_alerts(
    urls: list[str],
    tokens: dict[str, str],
    all_scripts: list[list[Event]],
    seconds: float,
    out: Outcome,
    threads: int = 16,
) -> None:
    """Send every script, in order within a script, scripts in parallel, paced over `seconds`."""
    pacer = Pacer(sum(len(s) for s in all_scripts), seconds)
    todo = list(enumerate(all_scripts))
    lock = threading.Lock()

    def run() -> None:
        while True:
            with lock:
                if not todo:
                    return
                i, script = todo.pop(0)
            for n, ev in enumerate(script):
                pacer.wait()
                token = tokens[ev.source]
                # senders authenticate in all three ways warroom accepts (none may reach a log)
                how = (i + n) % 3
                kw: dict[str, Any] = {
                    "content": json.dumps(ev.body).encode(),
                    "headers": {"content-type": "application/json"},
                }
                if how == 0:
                    kw["headers"]["authorization"] = f"Bearer {token}"
                elif how == 1:
                    kw["auth"] = (ev.source, token)
                else:
                    kw["params"] = {"token": token}
                r = request(urls, "POST", f"/api/v1/ingest/{ev.source}", out=out, i=i + n, **kw)
                _record_alert(r, ev, out)

    pool = [threading.Thread(target=run, daemon=True) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()


def _record_alert(r: httpx.Response | None, ev: Event, out: Outcome) -> None:
    with out.lock:
        if r is None:
            out.unanswered.append(ev.digest)
            return
        if r.status_code != 202:
            out.bad.append(f"{r.status_code} {r.text[:300]}")
            return
        if ev.p1 and ev.firing:
            out.p1_services.add(ev.service)
        for a in r.json()["alerts"]:
            out.kept.setdefault((ev.source, a["dedup_key"], a["status"]), set()).add(ev.digest)


def post_updates(
    urls: list[str], token: str, count: int, seconds: float, out: Outcome, incidents: Callable[[], list[str]]
) -> None:
    """`count` status updates over `seconds`, to every other incident (the rest run on cadence alone)."""
    pacer = Pacer(count, seconds)
    run = uuid.uuid4().hex[:6]

    def one(i: int) -> None:
        pacer.wait()
        refs = incidents()
        for _ in range(100):  # the first incidents are declared by the first alerts
            if refs:
                break
            time.sleep(0.1)
            refs = incidents()
        if not refs:
            with out.lock:
                out.bad.append("no incident to update")
            return
        ref = refs[(i % ((len(refs) + 1) // 2)) * 2]
        message = f"fault-load {run} update {i} for {ref}"
        with out.lock:
            out.updates_attempts[message] += 1
        r = request(
            urls,
            "POST",
            f"/api/v1/incidents/{ref}/updates",
            out=out,
            i=i,
            json={"message": message},
            headers={"authorization": f"Bearer {token}"},
        )
        with out.lock:
            if r is not None and r.status_code == 201:
                out.updates_ok.append(message)
            elif r is None:
                out.unanswered.append(message)
            else:
                out.bad.append(f"{r.status_code} {r.text[:300]}")

    pool = [threading.Thread(target=lambda k=k: [one(i) for i in range(k, count, 4)], daemon=True) for k in range(4)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
