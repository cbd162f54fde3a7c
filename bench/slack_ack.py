"""Slack ack benchmark: how fast `/slack/events` acknowledges (Slack gives up after 3 s; target
p99 < 300 ms) on its own and with the server under ingest load.

`warroom serve --no-worker` in a subprocess on a fresh database, a local Slack Web API
(tests/support/http_fakes.py: views.open and response_url posts), N open incidents (on `tou`; the
alerts are on `sis`, so they do not join them). A client sends signed requests as Slack does, one
at a time at `--slack-rate`: slash commands that write (`note INC-k ...`), read (`status`) and
open a modal (`declare`: views.open in the request), and buttons that change the incident
(`card_take`: a hand-over, a timeline entry, outbox rows, the card's edit). Then the same while
bench/openloop.c sends new alerts open loop at `--ingest-rate`. Needs gcc (Debian).

    PYTHONPATH=src:. python bench/slack_ack.py [--seconds 10] [--ingest-rate 1500] [--db sqlite|postgres]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import yaml
from bench.ingest import build_openloop, cpu_seconds, free_port, open_loop, served, warroom_cli
from tests.support import databases
from tests.support.http_fakes import SlackApiServer
from tests.support.notify import SLACK_TOKEN, policy_raw, slack_channels
from tests.support.slack_fake import SIGNING_SECRET, sign

KINDS = ("note", "status", "declare", "card_take")


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))] if values else float("nan")


class SlackClient:
    def __init__(self, url: str, api: SlackApiServer, incidents: int) -> None:
        self.url, self.api, self.incidents = url, api, incidents
        self.client = httpx.Client(timeout=10)
        self.ids = itertools.count(1)

    def _post(self, body: bytes) -> tuple[float, int]:
        ts = int(time.time())
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": str(ts),
            "X-Slack-Signature": sign(SIGNING_SECRET, ts, body),
        }
        start = time.perf_counter()
        r = self.client.post(self.url, content=body, headers=headers)
        return (time.perf_counter() - start) * 1000, r.status_code

    def one(self, kind: str) -> tuple[float, int]:
        n = next(self.ids)
        ref = f"INC-{n % self.incidents + 1}"
        user = ("UALICE", "UBOB")[n % 2]
        response_url = self.api.response_url(n)
        if kind == "card_take":
            payload = {
                "type": "block_actions",
                "user": {"id": user, "username": user.lower()},
                "team": {"id": "T0"},
                "trigger_id": f"{n}.{n}.t",
                "response_url": response_url,
                "actions": [{"action_id": "card_take", "value": ref, "action_ts": f"{time.time():.6f}.{n}"}],
            }
            return self._post(urlencode({"payload": json.dumps(payload)}).encode())
        text = {"note": f"note {ref} bench note {n}", "status": "status", "declare": "declare"}[kind]
        form = {
            "command": "/warroom",
            "text": text,
            "user_id": user,
            "user_name": user.lower(),
            "team_id": "T0",
            "channel_id": "C0",
            "trigger_id": f"{n}.{n}.trigger",
            "response_url": response_url,
        }
        return self._post(urlencode(form).encode())


def phase(client: SlackClient, *, rate: float, seconds: float) -> dict[str, Any]:
    """Requests at `rate`/s, each due at start + i/rate (latency from the send, one at a time)."""
    lat: dict[str, list[float]] = {k: [] for k in KINDS}
    errors = 0
    start = time.monotonic()
    i = 0
    while time.monotonic() - start < seconds:
        due = start + i / rate
        if (wait := due - time.monotonic()) > 0:
            time.sleep(wait)
        kind = KINDS[i % len(KINDS)]
        ms, status = client.one(kind)
        lat[kind].append(ms)
        errors += status != 200
        i += 1
    every = [v for values in lat.values() for v in values]
    return {
        "requests": len(every),
        "errors": errors,
        "p50": pct(every, 50),
        "p99": pct(every, 99),
        "max": max(every),
        "by_kind": {k: (pct(v, 50), pct(v, 99)) for k, v in lat.items()},
    }


def show(label: str, r: dict[str, Any]) -> None:
    kinds = "  ".join(f"{k} {p50:.1f}/{p99:.1f}" for k, (p50, p99) in r["by_kind"].items())
    print(
        f"  {label:<28} {r['requests']:5d} acks  errors {r['errors']}  p50 {r['p50']:6.1f} ms  "
        f"p99 {r['p99']:6.1f} ms  max {r['max']:6.1f} ms   (p50/p99 by kind: {kinds})",
        flush=True,
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--slack-rate", type=float, default=20, help="Slack requests per second")
    ap.add_argument("--ingest-rate", type=float, default=1500, help="new alerts per second, open loop")
    ap.add_argument("--incidents", type=int, default=20)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp())
    url = f"sqlite:///{tmp / 'bench.db'}" if args.db == "sqlite" else databases.create_pg_database()
    policy = tmp / "policy.yaml"
    policy.write_text(yaml.safe_dump(policy_raw(channels=slack_channels())))
    with SlackApiServer(token=SLACK_TOKEN) as api:
        env = {
            **os.environ,
            "WARROOM_DATABASE_URL": url,
            "WARROOM_POLICY": str(policy),
            "WARROOM_LOG_LEVEL": "WARNING",
            "WARROOM_SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "WARROOM_SLACK_TOKEN": SLACK_TOKEN,
            "WARROOM_SLACK_API_URL": api.url,
            "WARROOM_INGEST_RATE_PER_S": "1000000",
            "WARROOM_INGEST_BURST": "1000000",
        }
        warroom_cli(["db", "upgrade"], env)
        warroom_cli(["user", "add", "alice", "--slack-id", "UALICE"], env)
        warroom_cli(["user", "add", "bob", "--slack-id", "UBOB"], env)
        for _ in range(args.incidents):
            warroom_cli(["incident", "declare", "-s", "tou", "-p", "P2", "--severity", "SEV-3", "--as", "alice"], env)
        token = warroom_cli(["token", "create", "--ingest", "bench"], env).strip().splitlines()[-1]
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        cmd = [sys.executable, "-m", "warroom", "serve", "--port", str(port), "--no-worker", "--no-migrate"]
        openloop = build_openloop(tmp)
        print(f"slack ack benchmark: {args.db}, {os.cpu_count()} cores, {args.incidents} open incidents", flush=True)
        with served(cmd, env, f"{base}/healthz") as proc:
            client = SlackClient(f"{base}/slack/events", api, args.incidents)
            phase(client, rate=args.slack_rate, seconds=2)  # warm-up
            show("idle server", phase(client, rate=args.slack_rate, seconds=args.seconds))
            ingest: dict[str, Any] = {}

            def load() -> None:
                ingest.update(
                    open_loop(
                        openloop,
                        port,
                        "/api/v1/ingest/datadog",
                        rate=args.ingest_rate,
                        seconds=args.seconds + 2,
                        connections=32,
                        headers=[f"Authorization: Bearer {token}"],
                        pid=proc.pid,
                        warmup=1.0,
                    )
                )

            loader = threading.Thread(target=load)
            cpu0 = cpu_seconds(proc.pid)
            loader.start()
            time.sleep(2)  # the ingest warm-up and the first second of load
            under = phase(client, rate=args.slack_rate, seconds=args.seconds)
            loader.join()
            show(f"under {args.ingest_rate:,.0f} alerts/s", under)
            print(
                f"  ingest meanwhile: {ingest['alerts_per_s']:,.0f} alerts/s, p99 {ingest['p99_ms']:.1f} ms, "
                f"errors {ingest['errors']}, server CPU {cpu_seconds(proc.pid) - cpu0:.1f} s",
                flush=True,
            )
            verdict = "met" if under["p99"] < 300 else "MISSED"
            print(f"  target ack p99 < 300 ms under ingest load: {verdict} ({under['p99']:.1f} ms)", flush=True)
    if args.db == "postgres":
        databases.drop_pg_database(url)


if __name__ == "__main__":
    main()
