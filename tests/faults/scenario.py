"""One fault run: a fresh database on the private cluster, two API processes, two workers, a
Slack API server, the load, a fault injected by the scenario, then a settle phase."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from tests.faults import load
from tests.support import datadog_fake
from tests.support.datadog_fake import DatadogServer
from tests.support.http_fakes import SlackApiServer
from tests.support.notify import policy_raw
from tests.support.pgcluster import PgCluster
from tests.support.procs import ApiProc, Proc, env_for, worker_proc
from warroom import migrate
from warroom.core.clock import utcnow
from warroom.core.db import make_engine, session_factory
from warroom.datadog.models import DatadogMirror
from warroom.incidents.models import Incident
from warroom.notifications.models import Notification
from warroom.scheduler.models import DueJob
from warroom.users import bootstrap
from warroom.users import service as users

CADENCE_S, REMIND_BEFORE_S, LEASE_S = 10, 4, 10
SLACK_TOKEN = "xoxb-fault-7f3c1b9e2d"


def event_count() -> int:
    return int(os.environ.get("WARROOM_FAULT_EVENTS", "800"))


def load_seconds(events: int) -> float:
    """Long enough for a few cadence periods; longer for bigger runs (2 shared cores)."""
    return float(os.environ.get("WARROOM_FAULT_SECONDS", max(15.0, events / 60)))


def policy_yaml() -> dict[str, Any]:
    cadence = f"{CADENCE_S}s"
    raw = policy_raw(
        channels={
            "support": {"type": "slack", "channel": "#support"},
            "leadership": {"type": "slack", "channel": "#leaders"},
        },
        routes={
            "declared": ["support"],
            "update": ["support"],
            "state_changed": ["support"],
            "severity_changed": ["support"],
            "priority_changed": ["support"],
            "resolved": ["support"],
            "completed": ["leadership"],
            "reminder": ["support"],
            "escalation": ["leadership"],
            "declare_prompt": ["support"],
            "oob": ["support"],
        },
        cadence={
            "default": cadence,
            "per_priority": {p: cadence for p in ("P1", "P2", "P3", "P4")},
            "remind_before": f"{REMIND_BEFORE_S}s",
            "auto_update": True,
        },
        notifications={
            "lease": f"{LEASE_S}s",
            "timeout": "2s",
            "backoff_base": "500ms",
            "backoff_max": "3s",
            "max_attempts": 100,
            "jitter": 0.2,
            "slack_pace": "0s",
        },
        worker={"poll_interval": "100ms", "heartbeat_every": "1s", "stale_after": "15s"},
        triage={"stability_window": "30m", "grouping_window": "4h"},
    )
    raw["services"] = raw["services"] + [
        {"key": s, "name": f"Service {s}", "oncall": "identity-oncall", "match": [{"tags": {"service": s}}]}
        for s in load.SERVICES
    ]
    return raw


@dataclass
class Run:
    cluster: PgCluster
    dir: Path
    events: int = field(default_factory=event_count)
    fault_windows: list[tuple[datetime, datetime]] = field(default_factory=list)
    ambiguous: set[str] = field(default_factory=set)  # idempotency keys in flight at a SIGKILL
    notes: dict[str, Any] = field(default_factory=dict)
    datadog: bool = False  # also mirror incidents to a local Datadog (its outage scenario)

    def __post_init__(self) -> None:
        self.seconds = load_seconds(self.events)
        self.slack = SlackApiServer(token=SLACK_TOKEN).start()
        self.dd = DatadogServer().start() if self.datadog else None
        self.cluster.recreate_database()
        migrate.upgrade(self.cluster.url)
        self.engine: Engine = make_engine(self.cluster.url, pool_size=4, max_overflow=4)
        self.sessions = session_factory(self.engine)
        now = utcnow()
        with self.sessions.begin() as s:
            first = bootstrap.ensure_admin(s, now=now)
            assert first is not None
            responder = users.create_user(s, now=now, handle="fault-responder", role="responder")
            _, self.responder_token = users.create_token(s, now=now, user=responder, name="load")
            self.ingest_tokens = {
                src: users.create_token(s, now=now, user=None, kind="ingest", name=src)[1]
                for src in ("datadog", "alertmanager")
            }
        self.secrets = [
            first.token,
            first.password,
            self.responder_token,
            *self.ingest_tokens.values(),
            SLACK_TOKEN,
            self.cluster.url.split(":")[2].split("@")[0],
        ]
        policy_path = self.dir / "policy.yaml"
        policy_path.write_text(yaml.safe_dump(policy_yaml()))
        self.env = env_for(
            self.cluster.url,
            WARROOM_POLICY=str(policy_path),
            WARROOM_SLACK_TOKEN=SLACK_TOKEN,
            WARROOM_SLACK_API_URL=self.slack.url,
            WARROOM_LOG_LEVEL="INFO",
            WARROOM_INGEST_RATE_PER_S="100000",
            WARROOM_INGEST_BURST="100000",
            WARROOM_DB_POOL_SIZE="8",
            WARROOM_DB_MAX_OVERFLOW="8",
            **(
                {
                    "WARROOM_DATADOG_API_KEY": datadog_fake.API_KEY,
                    "WARROOM_DATADOG_APP_KEY": datadog_fake.APP_KEY,
                    "WARROOM_DATADOG_API_URL": self.dd.base,
                }
                if self.dd
                else {}
            ),
        )
        if self.dd:
            self.secrets += [datadog_fake.API_KEY, datadog_fake.APP_KEY]
        self.apis = [ApiProc(self.env, self.dir / f"api{i}.log") for i in (1, 2)]
        self.workers = [worker_proc(self.env, self.dir / f"worker{i}.log") for i in (1, 2)]
        for w in self.workers:
            w.start()
        starters = [threading.Thread(target=a.start) for a in self.apis]  # both boot at once
        for t in starters:
            t.start()
        for t in starters:
            t.join()
        assert all(a.alive for a in self.apis), [a.log()[-2000:] for a in self.apis]
        self.out = load.Outcome()
        self.started = utcnow()

    @property
    def urls(self) -> list[str]:
        return [a.url for a in self.apis]

    def incident_refs(self) -> list[str]:
        try:
            with self.sessions() as s:
                return [f"INC-{i}" for i in s.scalars(select(Incident.id).order_by(Incident.id))]
        except Exception:  # noqa: BLE001 - the database may be down right now (scenario d)
            return []

    def drive(self, fault: Callable[[Run], None] | None = None, at: float = 0.4) -> None:
        """The load over `seconds`; `fault(run)` starts at `at` of the way through (in a thread)."""
        scripts = load.scripts(self.events)
        updates = max(20, self.events // 25)
        self.notes.update(
            events=self.events, requests=sum(len(s) for s in scripts), updates=updates, seconds=self.seconds
        )
        threads = [
            threading.Thread(
                target=load.send_alerts,
                daemon=True,
                args=(self.urls, self.ingest_tokens, scripts, self.seconds, self.out),
            ),
            threading.Thread(
                target=load.post_updates,
                daemon=True,
                args=(self.urls, self.responder_token, updates, self.seconds, self.out, self.incident_refs),
            ),
        ]
        if fault is not None:

            def later() -> None:
                time.sleep(self.seconds * at)
                fault(self)

            threads.append(threading.Thread(target=later, daemon=True))
        t0 = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=self.seconds + 4 * load.RETRY_FOR_S)
        self.notes["load_s"] = round(time.monotonic() - t0, 1)
        self.notes["http"] = dict(self.out.statuses)
        lat = sorted(self.out.latencies) or [0.0]
        self.notes["latency_ms_p50_p99_max"] = [round(1000 * lat[int(q * (len(lat) - 1))]) for q in (0.5, 0.99, 1)]
        self.settle()

    def settle(self, min_tail: float = CADENCE_S, timeout: float = 90) -> None:
        """Keep the workers running until the outbox is empty and no due job is overdue, and for at
        least `min_tail` after the load so cadence keeps being exercised; then stop every process."""
        t0 = time.monotonic()
        self.ended = utcnow()
        while time.monotonic() - t0 < timeout:
            now = self.ended = utcnow()  # rows created after this may stay pending: workers stop next
            with self.sessions() as s:
                pending = (
                    s.scalar(select(func.count()).select_from(Notification).where(Notification.state == "pending")) or 0
                )
                overdue = (
                    s.scalar(
                        select(func.count())
                        .select_from(DueJob)
                        .where(DueJob.done.is_(False), DueJob.due_at < now - timedelta(seconds=2))
                    )
                    or 0
                )
            if self.dd is not None:
                pending += self._datadog_waiting()
            if not pending and not overdue and time.monotonic() - t0 >= min_tail:
                break
            time.sleep(0.5)
        self.notes["settle_s"] = round(time.monotonic() - t0, 1)
        for p in self.workers:
            p.stop()
        for p in self.apis:
            p.stop()
        self.slack.stop()
        if self.dd is not None:
            self.dd.stop()

    def _datadog_waiting(self) -> int:
        """Incidents whose latest state Datadog does not hold yet (the mirror's dirty rows)."""
        with self.sessions() as s:
            return (
                s.scalar(
                    select(func.count())
                    .select_from(DatadogMirror)
                    .where(
                        DatadogMirror.state.in_(("pending", "linked")),
                        DatadogMirror.version > DatadogMirror.synced_version,
                    )
                )
                or 0
            )

    def procs(self) -> list[Proc]:
        return [*self.apis, *self.workers]

    def logs(self) -> dict[str, str]:
        out = {p.log_path.name: p.log() for p in self.procs()}
        out["postgres.log"] = self.cluster.log.read_text(errors="replace") if self.cluster.log.exists() else ""
        return out

    def close(self) -> None:
        for p in self.procs():
            p.kill()
        self.engine.dispose()
