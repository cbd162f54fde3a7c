"""Ingest load for the cluster benchmarks: concurrent clients spread over API processes like a
load balancer, a realistic mix of deliveries; runs in its own process so it does not steal the
GIL from the Slack server that timestamps reminders."""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
from bench.clusterlib import am_body, dd_body, dumps, events_body, pct

# (kind, weight): new alerts, re-deliveries of an earlier body, recoveries of an alert this
# client opened, Events API triggers/resolves, Alertmanager groups of AM_SIZE alerts.
MIX = [("new", 45), ("duplicate", 20), ("recovery", 20), ("events", 10), ("alertmanager", 5)]
AM_SIZE = 20


@dataclass
class Stats:
    latencies: dict[str, list[float]] = field(default_factory=dict)  # per API base url
    errors: dict[str, int] = field(default_factory=dict)
    error_samples: list[str] = field(default_factory=list)
    alerts: int = 0
    requests: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)
    started_at: float = 0.0  # wall clock


class Client:
    """One simulated monitor integration: remembers what it opened so it can recover/redeliver."""

    def __init__(self, seed: int, token: str) -> None:
        self.rng = random.Random(seed)
        self.run = uuid.uuid4().hex[:6]
        self.token = token
        self.n = 0
        self.sent: list[tuple[str, bytes]] = []  # (path, body) for duplicate deliveries
        self.open_dd: list[dict[str, Any]] = []
        self.open_ev: list[str] = []

    def next(self) -> tuple[str, str, bytes, int]:
        kind = self.rng.choices([k for k, _ in MIX], [w for _, w in MIX])[0]
        self.n += 1
        key = f"{self.run}-{self.n}"
        if kind == "duplicate" and self.sent:
            path, again = self.rng.choice(self.sent[-200:])
            return kind, path, again, 1 if "alertmanager" not in path else AM_SIZE
        if kind == "recovery" and self.open_dd:
            opened = self.open_dd.pop(self.rng.randrange(len(self.open_dd)))
            env, service = opened["scope"].split(",")
            body = dd_body(self.rng, opened["alert_id"], "Recovered", env=env[4:], service=service[8:])
            return kind, "/api/v1/ingest/datadog", dumps(body), 1
        if kind == "events":
            if self.open_ev and self.rng.random() < 0.3:
                action, target = "resolve", self.open_ev.pop(self.rng.randrange(len(self.open_ev)))
            else:
                action, target = "trigger", key
                self.open_ev.append(key)
            return kind, "/api/v1/ingest/events", dumps(events_body(self.rng, target, action, self.token)), 1
        if kind == "alertmanager":
            return kind, "/api/v1/ingest/alertmanager", dumps(am_body(self.rng, key, AM_SIZE)), AM_SIZE
        # a new alert; one in 200 carries a user count high enough for P1 in production
        users = self.rng.choice([None, None, 20, 150]) if self.rng.random() > 0.005 else 5000
        body = dd_body(self.rng, key, users=users)
        self.open_dd.append(body)
        raw = dumps(body)
        self.sent.append(("/api/v1/ingest/datadog", raw))
        return "new", "/api/v1/ingest/datadog", raw, 1


async def drive(bases: list[str], token: str, *, seconds: float, clients: int, rate: float, seed: int = 1) -> Stats:
    """`clients` loops; each request goes to the next API process (round robin); `rate` > 0 paces
    the total request rate, 0 sends as fast as the servers answer."""
    stats = Stats(latencies={b: [] for b in bases}, errors={b: 0 for b in bases})
    stop = time.perf_counter() + seconds
    turn = 0
    limits = httpx.Limits(max_connections=clients * len(bases), max_keepalive_connections=clients * len(bases))
    headers = {"Authorization": f"Bearer {token}", "content-type": "application/json"}
    async with httpx.AsyncClient(limits=limits, timeout=60, headers=headers) as http:

        async def loop(i: int) -> None:
            nonlocal turn
            client = Client(seed * 1000 + i, token)
            interval = clients / rate if rate > 0 else 0.0
            next_at = time.perf_counter() + (interval * i / clients)
            while time.perf_counter() < stop:
                if interval:
                    await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
                    next_at += interval
                    if time.perf_counter() >= stop:
                        break
                kind, path, body, n_alerts = client.next()
                base = bases[turn % len(bases)]
                turn += 1
                t0 = time.perf_counter()
                try:
                    r = await http.post(base + path, content=body)
                    ok = r.status_code == 202
                    problem = "" if ok else f"{r.status_code} {r.text[:200]}"
                except httpx.HTTPError as exc:
                    ok, problem = False, f"{type(exc).__name__} {exc}"
                stats.latencies[base].append(time.perf_counter() - t0)
                stats.requests += 1
                stats.by_kind[kind] = stats.by_kind.get(kind, 0) + 1
                if ok:
                    stats.alerts += n_alerts
                else:
                    stats.errors[base] += 1
                    if len(stats.error_samples) < 10:
                        stats.error_samples.append(f"{base}{path}: {problem}")

        t_start = time.perf_counter()
        stats.started_at = time.time()
        await asyncio.gather(*(loop(i) for i in range(clients)))
        stats.latencies["elapsed"] = [time.perf_counter() - t_start]
    return stats


def run_in_process(bases: list[str], token: str, seconds: float, clients: int, rate: float, out: Any) -> None:
    """multiprocessing target: drive, then put a plain dict on the queue."""
    stats = asyncio.run(drive(bases, token, seconds=seconds, clients=clients, rate=rate))
    out.put(
        {
            "latencies": stats.latencies,
            "errors": stats.errors,
            "alerts": stats.alerts,
            "requests": stats.requests,
            "by_kind": stats.by_kind,
            "error_samples": stats.error_samples,
            "started_at": stats.started_at,
        }
    )


def report(result: dict[str, Any]) -> list[str]:
    """Lines: per API process and total requests, alerts/s, p50/p99, errors."""
    elapsed = result["latencies"].pop("elapsed")[0]
    lines = []
    every: list[float] = []
    for base, lat in result["latencies"].items():
        every += lat
        lines.append(
            f"  {base}: {len(lat)} requests ({len(lat) / elapsed:.1f}/s) p50 {pct(lat, 50) * 1000:.0f} ms "
            f"p99 {pct(lat, 99) * 1000:.0f} ms errors {result['errors'][base]}"
        )
    n = result["requests"]
    lines.append(
        f"  total: {n} requests in {elapsed:.1f}s = {n / elapsed:.1f} req/s, "
        f"{result['alerts']} alerts = {result['alerts'] / elapsed:.1f} alerts/s, p50 "
        f"{pct(every, 50) * 1000:.0f} ms p99 {pct(every, 99) * 1000:.0f} ms, errors "
        f"{sum(result['errors'].values())}; mix {result['by_kind']}"
    )
    lines += [f"  error: {e}" for e in result["error_samples"]]
    return lines
