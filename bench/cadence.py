"""Cadence benchmark: N open incidents whose reminders and due times are spread over a window.

Worker processes (`warroom worker`) deliver to a local Slack Web API server; we print the lateness
(Slack server arrival - scheduled time) of every reminder and automatic update, and the rate.

    PYTHONPATH=src:. python bench/cadence.py --db sqlite --workers 1 --incidents 10000 --window 120
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

import yaml
from sqlalchemy import select, update
from tests.support import databases
from tests.support.http_fakes import SlackApiServer
from tests.support.notify import SLACK_TOKEN, policy_raw

from warroom import migrate
from warroom.core.clock import utcnow
from warroom.core.db import make_engine, session_factory
from warroom.incidents import service as incidents
from warroom.incidents.models import Incident
from warroom.incidents.schemas import IncidentCreate
from warroom.notifications.models import Notification
from warroom.policy import Policy
from warroom.scheduler.models import DueJob
from warroom.users import service as users

CADENCE, REMIND = 600, 30  # seconds: long enough that no second round falls inside the run


def _pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))] if values else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--incidents", type=int, default=10_000)
    ap.add_argument("--window", type=float, default=120.0, help="seconds over which due times are spread")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp())
    url = f"sqlite:///{tmp / 'bench.db'}" if args.db == "sqlite" else databases.create_pg_database()
    migrate.upgrade(url)
    raw = policy_raw(
        channels={"bench": {"type": "slack", "channel": "#bench"}},
        routes={"update": ["bench"], "reminder": ["bench"], "escalation": ["bench"]},
        cadence={
            "default": f"{CADENCE}s",
            "remind_before": f"{REMIND}s",
            "per_priority": {p: f"{CADENCE}s" for p in ("P1", "P2", "P3", "P4")},
        },
        notifications={"slack_pace": "0s", "batch": 100, "lease": "30s", "timeout": "5s"},
        worker={"poll_interval": "50ms", "heartbeat_every": "1s"},
    )
    policy = Policy.model_validate(raw)
    (tmp / "policy.yaml").write_text(yaml.safe_dump(raw))
    engine = make_engine(url)
    sessions = session_factory(engine)
    n = args.incidents
    lead = REMIND + 10.0
    t_setup = time.monotonic()
    start = utcnow()
    due: dict[int, float] = {}
    with sessions.begin() as s:
        users.by_handle(s, "bench") or users.create_user(s, now=utcnow(), handle="bench")  # the commander is a user
        for i in range(n):
            offset = lead + i * args.window / n
            inc = incidents.declare(
                s,
                policy=policy,
                now=start + timedelta(seconds=offset - CADENCE),
                actor="bench",
                data=IncidentCreate(services=["sis"], priority="P3", severity="SEV-3", title=f"bench {i}"),
            )
            due[inc.id] = (start + timedelta(seconds=offset)).timestamp()
        s.execute(update(Notification).values(state="sent"))  # declarations are not what we measure
    # setup took a while: move every due time so the first reminder comes 10s from now
    # (the shift itself takes a while for 10,000 incidents: leave room for it)
    shift = timedelta(seconds=time.time() + 10 + n * 0.003 + REMIND - min(due.values()))
    with sessions.begin() as s:
        for inc in s.scalars(select(Incident)):
            inc.next_update_due_at = inc.next_update_due_at + shift
            due[inc.id] = inc.next_update_due_at.timestamp()
        for job in s.scalars(select(DueJob)):
            job.due_at = job.due_at + shift
            job.payload = {**job.payload, "due": (datetime.fromisoformat(job.payload["due"]) + shift).isoformat()}
    print(
        f"setup: {n} incidents in {time.monotonic() - t_setup:.1f}s; first reminder in "
        f"{min(due.values()) - REMIND - time.time():.1f}s",
        flush=True,
    )
    env = {
        **os.environ,
        "WARROOM_DATABASE_URL": url,
        "WARROOM_POLICY": str(tmp / "policy.yaml"),
        "WARROOM_SLACK_TOKEN": SLACK_TOKEN,
        "WARROOM_LOG_LEVEL": "WARNING",
    }
    expected = 3 * n  # reminder before due; automatic update and missed-update ping at due
    with SlackApiServer() as slack:
        env["WARROOM_SLACK_API_URL"] = slack.url
        procs = [
            subprocess.Popen([sys.executable, "-m", "warroom", "worker"], env=env, stdout=subprocess.DEVNULL)
            for _ in range(args.workers)
        ]
        loads: list[float] = []
        cpu: list[float] = []
        try:
            deadline = time.time() + 10 + REMIND + args.window + 120
            while time.time() < deadline and slack.ok_count < expected:
                slack.wait_for(lambda calls: slack.ok_count >= expected, timeout=min(10.0, deadline - time.time()))
                loads.append(os.getloadavg()[0])
            time.sleep(1)
        finally:
            for p in procs:
                p.terminate()
            for p in procs:
                try:
                    _, _, usage = os.wait4(p.pid, 0)  # the worker's own CPU time, whatever else the box runs
                    cpu.append(usage.ru_utime + usage.ru_stime)
                except ChildProcessError:
                    pass
                p.returncode = p.returncode if p.returncode is not None else 0
        posts = slack.posts()
    with sessions() as s:
        rows = {r.idempotency_key: r for r in s.scalars(select(Notification).where(Notification.event != "declared"))}
    late: dict[str, list[float]] = {"reminder": [], "auto_update": [], "missed_ping": []}
    seen: dict[str, int] = {}
    for p in posts:
        key = p["metadata"]["event_payload"]["idempotency_key"]
        seen[key] = seen.get(key, 0) + 1
        row = rows[key]
        assert row.incident_id is not None
        if row.event == "update":
            late["auto_update"].append(p["at"] - due[row.incident_id])
        elif row.payload.get("kind") == "before_due":
            late["reminder"].append(p["at"] - (due[row.incident_id] - REMIND))
        else:
            late["missed_ping"].append(p["at"] - due[row.incident_id])
    dupes = sum(c - 1 for c in seen.values())
    missing = expected - len(seen)
    first, last = min(p["at"] for p in posts), max(p["at"] for p in posts)
    print(
        f"db={args.db} workers={args.workers} incidents={n} window={args.window:.0f}s "
        f"messages={len(posts)} missed={missing} duplicates={dupes}"
    )
    for kind, values in late.items():
        print(
            f"  {kind:<12} n={len(values):>6} lateness p50={_pct(values, 50):.3f}s p99={_pct(values, 99):.3f}s "
            f"max={max(values, default=float('nan')):.3f}s mean={statistics.fmean(values) if values else 0:.3f}s"
        )
    print(
        f"  delivery rate: {len(posts) / max(last - first, 1e-9):.0f} msg/s over {last - first:.1f}s "
        f"(offered {expected / args.window:.0f} msg/s)"
    )
    print(
        f"  worker CPU: {' + '.join(f'{c:.1f}' for c in cpu)} s = {1000 * sum(cpu) / max(len(posts), 1):.2f} ms "
        f"per message (includes start-up and idle polling); load average (1 min) during the run: "
        f"min {min(loads, default=0):.1f} / mean {statistics.fmean(loads) if loads else 0:.1f} / "
        f"max {max(loads, default=0):.1f}"
    )
    engine.dispose()
    if args.db == "postgres":
        databases.drop_pg_database(url)


if __name__ == "__main__":
    main()
