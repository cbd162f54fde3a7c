"""Cluster benchmark: 2 API processes + worker processes on one fresh PostgreSQL database.

Sustained ingest (a realistic mix from concurrent clients spread over the API processes like a
load balancer) while a set of open incidents runs a short status-update cadence; prints ingest
alerts/s, p50/p99 and errors per API process, and the lateness (scheduled time -> arrival at a
local Slack Web API server) of every reminder, automatic update and missed-update ping that was
scheduled during the run, with missed and duplicated messages.

    PYTHONPATH=src:. python bench/cluster.py [--seconds 60] [--clients 8] [--rate 0]
        [--incidents 200] [--cadence 20] [--remind-before 5] [--workers 2] [--apis 2] [--db postgres]
"""

from __future__ import annotations

import argparse
import multiprocessing
import tempfile
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from bench import loadgen
from bench.clusterlib import SERVICES, drop_database, loadavg, new_database, proc_env, rss_mb, summary, warroom_cli
from sqlalchemy import select, update
from tests.support.http_fakes import SlackApiServer
from tests.support.notify import SLACK_TOKEN, policy_raw
from tests.support.procs import ApiProc, Proc, worker_proc

from warroom import migrate
from warroom.core.db import make_engine, session_factory
from warroom.incidents import service as incidents
from warroom.incidents.models import Incident, TimelineEntry
from warroom.incidents.schemas import IncidentCreate
from warroom.notifications.models import Notification
from warroom.policy import Policy
from warroom.scheduler import service as reminders
from warroom.scheduler.models import DueJob
from warroom.users import service as users


def write_policy(tmp: Path, cadence: float, remind: float) -> Policy:
    """The reference policy (routes, channels: Slack) with a short cadence and fast workers."""
    raw = policy_raw(
        cadence={
            "default": f"{cadence:g}s",
            "remind_before": f"{remind:g}s",
            "per_priority": {p: f"{cadence:g}s" for p in ("P1", "P2", "P3", "P4")},
        },
        notifications={"slack_pace": "0s", "batch": 100, "lease": "30s", "timeout": "5s"},
        worker={"poll_interval": "100ms", "heartbeat_every": "2s"},
    )
    (tmp / "policy.yaml").write_text(yaml.safe_dump(raw))
    return Policy.model_validate(raw)


def seed_incidents(sessions: Any, policy: Policy, n: int) -> None:
    """Open incidents over the catalog, declared by hand; their cadence is parked an hour out."""
    now = datetime.now(UTC)
    with sessions.begin() as s:
        users.by_handle(s, "bench") or users.create_user(s, now=now, handle="bench")  # the commander is a user
        for i in range(n):
            incidents.declare(
                s,
                policy=policy,
                now=now,
                actor="bench",
                data=IncidentCreate(
                    services=[SERVICES[i % 6]],
                    priority=["P1", "P2", "P3"][i % 3],
                    severity="SEV-3",
                    title=f"bench incident {i}",
                ),
            )
        s.execute(update(Notification).values(state="sent"))  # declarations are not what we measure
    shift_cadence(sessions, timedelta(hours=1), policy)


def shift_cadence(
    sessions: Any, delta: timedelta | None, policy: Policy, *, start: float = 0.0, spread: float = 0.0
) -> None:
    """Move every open incident's due time by delta, or (delta None) spread the due times evenly
    over [start, start + spread) (epoch seconds) with the reminder remind_before earlier."""
    with sessions.begin() as s:
        rows = list(s.scalars(select(Incident).where(Incident.next_update_due_at.is_not(None)).order_by(Incident.id)))
        for i, inc in enumerate(rows):
            assert inc.next_update_due_at is not None
            due: datetime = (
                inc.next_update_due_at + delta
                if delta is not None
                else datetime.fromtimestamp(start + i * spread / len(rows), UTC)
            )
            inc.next_update_due_at = due
            inc.last_update_at = due - policy.cadence_for(inc.priority)  # as if updated one cadence ago
            reminders.schedule_cadence(
                s,
                remind_before=policy.cadence.remind_before,
                incident_id=inc.id,
                next_due=due,
                now=datetime.now(UTC) - timedelta(hours=2),
            )


def sampler(procs: dict[str, Proc], stop: threading.Event, out: list[str]) -> None:
    """Every 10 s: load average and the RSS of each warroom process."""
    while not stop.wait(10):
        rss = " ".join(f"{name}={rss_mb(p.popen.pid):.0f}MB" for name, p in procs.items() if p.popen)
        out.append(f"  t+{len(out) * 10 + 10:>3}s load {loadavg()}  {rss}")


def analyse(sessions: Any, slack: SlackApiServer, policy: Policy, t0: float, t_end: float) -> list[str]:
    """Lateness of cadence messages scheduled in [t0, t_end]; missed and duplicated ones."""
    remind = policy.cadence.remind_before.total_seconds()
    arrivals: dict[str, list[float]] = {}
    for p in slack.posts():
        key = p["metadata"]["event_payload"]["idempotency_key"]
        arrivals.setdefault(key, []).append(p["at"])
    with sessions() as s:
        notes = list(s.scalars(select(Notification).where(Notification.event.in_(("reminder", "update")))))
        missed_tl = {
            (e.incident_id, e.data["missed"]): datetime.fromisoformat(e.data["due"]).timestamp()
            for e in s.scalars(select(TimelineEntry).where(TimelineEntry.kind == "missed_update"))
        }
        pending_jobs = s.scalar(
            select(DueJob.id)
            .where(
                DueJob.kind.in_((reminders.CADENCE_REMIND, reminders.CADENCE_DUE)),
                DueJob.done.is_(False),
                DueJob.due_at <= datetime.fromtimestamp(t_end, UTC),
            )
            .limit(1)
        )
    late: dict[str, list[float]] = {"reminder": [], "auto_update": [], "missed_ping": []}
    undelivered: Counter[str] = Counter()
    reminded: set[tuple[int, float]] = set()
    ping_at: dict[tuple[int, datetime], float] = {}
    for n in notes:
        if n.event == "reminder" and n.payload.get("kind") == "missed":
            ping_at[(n.incident_id or 0, n.created_at)] = missed_tl[(n.incident_id, n.payload["missed"])]
    for n in notes:
        if n.event == "reminder" and n.payload.get("kind") == "before_due":
            due = datetime.fromisoformat(n.payload["due"]).timestamp()
            kind, scheduled = "reminder", due - remind
            reminded.add((n.incident_id or 0, due))
        elif n.event == "reminder" and n.payload.get("kind") == "missed":
            kind, scheduled = "missed_ping", ping_at[(n.incident_id or 0, n.created_at)]
        elif n.event == "update" and (n.incident_id or 0, n.created_at) in ping_at:
            kind, scheduled = "auto_update", ping_at[(n.incident_id or 0, n.created_at)]
        else:
            continue  # an escalation-style reminder or a hand-made update: not a cadence message
        if not t0 <= scheduled <= t_end:
            continue
        got = arrivals.get(n.idempotency_key)
        if got:
            late[kind].append(min(got) - scheduled)
        else:
            undelivered[kind] += 1
    # a due time that passed (missed_update recorded) in the window without its reminder
    lost = [
        (inc, due) for (inc, _), due in missed_tl.items() if t0 <= due - remind <= t_end and (inc, due) not in reminded
    ]
    no_reminder = len(lost)
    dupes = sum(len(v) - 1 for v in arrivals.values())
    lines = [
        f"  slack posts {sum(len(v) for v in arrivals.values())}, duplicates {dupes}, "
        f"undelivered (scheduled in window) {dict(undelivered)}, due times without a reminder {no_reminder}, "
        f"cadence jobs due in window still pending: {'yes' if pending_jobs else 'no'}"
    ]
    for kind, values in late.items():
        lines.append(f"  {kind:<12} lateness s: {summary(values)}")
    with sessions() as s:
        for inc, due in lost[:5]:  # what happened around a due time that had no reminder
            lines.append(f"  no reminder: INC-{inc} due t0+{due - t0:.2f}s; timeline (s from due):")
            for e in s.scalars(
                select(TimelineEntry)
                .where(TimelineEntry.incident_id == inc)
                .order_by(TimelineEntry.recorded_at, TimelineEntry.id)
            ):
                if -3 * remind - 20 < e.recorded_at.timestamp() - due < 5:
                    lines.append(f"    {e.recorded_at.timestamp() - due:+.2f} {e.kind}: {e.text[:110]}")
            for n in notes:
                if n.incident_id == inc and n.payload.get("kind") == "before_due":
                    at = datetime.fromisoformat(n.payload["due"]).timestamp()
                    if abs(at - due) < 30:
                        got = arrivals.get(n.idempotency_key)
                        lines.append(
                            f"    reminder row for due {at - due:+.2f}s created "
                            f"{n.created_at.timestamp() - due:+.2f}s, arrived {got}"
                        )
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", choices=["postgres", "sqlite"], default="postgres")
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--clients", type=int, default=8, help="0: no ingest (cadence baseline)")
    ap.add_argument("--rate", type=float, default=0.0, help="total requests/s (0: as fast as answered)")
    ap.add_argument("--incidents", type=int, default=200)
    ap.add_argument("--cadence", type=float, default=20.0)
    ap.add_argument("--remind-before", type=float, default=5.0)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--apis", type=int, default=2)
    ap.add_argument("--drain", type=float, default=30.0, help="seconds workers keep running after the load")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="wr-cluster-"))
    url = new_database(args.db, tmp)
    print(
        f"cluster bench: db={args.db} apis={args.apis} workers={args.workers} clients={args.clients} "
        f"rate={args.rate or 'max'} seconds={args.seconds:g} incidents={args.incidents} cadence={args.cadence:g}s "
        f"remind_before={args.remind_before:g}s; load average {loadavg()}; logs in {tmp}",
        flush=True,
    )
    procs: dict[str, Proc] = {}
    engine = make_engine(url)
    try:
        migrate.upgrade(url)
        policy = write_policy(tmp, args.cadence, args.remind_before)
        sessions = session_factory(engine)
        t = time.monotonic()
        seed_incidents(sessions, policy, args.incidents)
        print(f"seeded {args.incidents} incidents in {time.monotonic() - t:.1f}s", flush=True)
        with SlackApiServer(token=SLACK_TOKEN) as slack:
            env = proc_env(
                url,
                WARROOM_POLICY=str(tmp / "policy.yaml"),
                WARROOM_SLACK_TOKEN=SLACK_TOKEN,
                WARROOM_SLACK_API_URL=slack.url,
            )
            token = warroom_cli(["token", "create", "--ingest", "bench"], env)
            for i in range(args.apis):
                procs[f"api{i + 1}"] = ApiProc(env, tmp / f"api{i + 1}.log").start()
            for i in range(args.workers):
                procs[f"worker{i + 1}"] = worker_proc(env, tmp / f"worker{i + 1}.log").start()
            time.sleep(3)  # workers import and connect
            t0 = time.time() + 2
            shift_cadence(sessions, None, policy, start=t0 + args.remind_before, spread=args.cadence)
            print(
                f"processes up; {args.incidents} due times spread over {args.cadence:g}s from "
                f"t0+{args.remind_before:g}s; load average {loadavg()}",
                flush=True,
            )
            samples: list[str] = []
            stop = threading.Event()
            threading.Thread(target=sampler, args=(procs, stop, samples), daemon=True).start()
            ctx = multiprocessing.get_context("spawn")
            queue = ctx.Queue()
            bases = [p.url for p in procs.values() if isinstance(p, ApiProc)]
            gen = ctx.Process(
                target=loadgen.run_in_process, args=(bases, token, args.seconds, args.clients, args.rate, queue)
            )
            if args.clients:
                gen.start()
                result = queue.get(timeout=args.seconds + 300)
                gen.join()
            else:  # baseline: the cadence alone
                result = {"started_at": time.time()}
                time.sleep(args.seconds)
            t_end = time.time()
            print(f"ingest ({args.seconds:g}s, load average at end {loadavg()}):")
            print("\n".join(loadgen.report(result)) if args.clients else "  none (--clients 0)", flush=True)
            time.sleep(args.drain)
            stop.set()
            print("samples:\n" + "\n".join(samples))
            for name, p in procs.items():
                p.stop()
                if "Traceback" in p.log():
                    print(f"  {name} logged a traceback: see {p.log_path}")
            t_start = max(t0, result["started_at"])
            print(
                f"cadence messages scheduled during the ingest ({t_end - t_start:.0f}s window, drain {args.drain:g}s):"
            )
            print("\n".join(analyse(sessions, slack, policy, t_start, t_end)), flush=True)
    finally:
        for p in procs.values():
            p.stop()
        engine.dispose()
        drop_database(url)


if __name__ == "__main__":
    main()
