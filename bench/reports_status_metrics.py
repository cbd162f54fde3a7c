"""Time a year's report, the public status and a /metrics scrape over many incidents (SQLite or
WARROOM_DATABASE_URL). Usage: python bench/reports_status_metrics.py [incidents]"""

from __future__ import annotations

import os
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert

from warroom import migrate
from warroom.alerts.models import Alert
from warroom.core import metrics
from warroom.core.db import make_engine, session_factory
from warroom.incidents.models import Incident, IncidentService, StatusUpdate
from warroom.policy import reference_policy
from warroom.reports import service as reports
from warroom.status import service as status


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    url = os.environ.get("WARROOM_DATABASE_URL") or f"sqlite:///{tempfile.mkdtemp()}/bench.db"
    migrate.upgrade(url)
    engine = make_engine(url)
    policy = reference_policy()
    keys = [s.key for s in policy.services]
    rnd = random.Random(7)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    incidents, links, updates, alerts = [], [], [], []
    for i in range(1, n + 1):
        declared = start + timedelta(minutes=rnd.randrange(365 * 24 * 60))
        open_ = i > n - 50
        incidents.append(
            dict(
                id=i,
                title=f"bench {i}",
                state="active" if open_ else "resolved",
                priority=rnd.choice(["P1", "P2", "P3", "P4"]),
                severity=f"SEV-{rnd.randint(1, 5)}",
                commander="bench",
                declared_by="bench",
                roles={},
                monitors=[],
                teams=[],
                pending_tasks=[],
                acknowledged_by_team=False,
                declared_automatically=True,
                first_alert_at=declared - timedelta(minutes=5),
                declared_at=declared,
                acknowledged_at=declared + timedelta(minutes=rnd.randint(1, 40)),
                stable_at=None if open_ else declared + timedelta(minutes=30),
                resolved_at=None if open_ else declared + timedelta(minutes=90),
                next_update_due_at=declared + timedelta(minutes=30) if open_ else None,
                missed_updates=0,
                updated_at=declared,
            )
        )
        links.append(dict(incident_id=i, service=rnd.choice(keys), position=0))
        for u in range(3):
            updates.append(
                dict(
                    incident_id=i,
                    message="x",
                    state="active",
                    priority="P2",
                    severity="SEV-3",
                    actor="bench",
                    automatic=False,
                    created_at=declared + timedelta(minutes=25 * (u + 1)),
                    due_at=declared + timedelta(minutes=30 * (u + 1)),
                    on_time=rnd.random() < 0.9,
                )
            )
        alerts.append(
            dict(
                source="datadog",
                dedup_key=f"k{i}",
                open_key=None,
                service=links[-1]["service"],
                mapped=True,
                environment="production",
                tier=1,
                title="a",
                status="resolved",
                priority="P2",
                priority_rule="b",
                priority_reason="b",
                labels={},
                first_seen_at=declared,
                last_seen_at=declared,
                incident_id=i,
                event_count=1,
            )
        )
    t = time.perf_counter()
    with engine.begin() as conn:
        for table, rows in ((Incident, incidents), (IncidentService, links), (StatusUpdate, updates), (Alert, alerts)):
            for k in range(0, len(rows), 5000):
                conn.execute(insert(table), rows[k : k + 5000])
    print(
        f"loaded {n} incidents, {len(updates)} updates, {len(alerts)} alerts "
        f"in {time.perf_counter() - t:.1f}s ({engine.dialect.name})"
    )
    sessions = session_factory(engine)
    now = datetime(2027, 1, 1, tzinfo=UTC)
    for label, fn in (
        (
            "report year by service",
            lambda s: reports.build(s, policy=policy, now=now, start=start, end=now, group_by="service"),
        ),
        (
            "report month by priority",
            lambda s: reports.build(
                s,
                policy=policy,
                now=now,
                start=datetime(2026, 10, 1, tzinfo=UTC),
                end=datetime(2026, 11, 1, tzinfo=UTC),
                group_by="priority",
            ),
        ),
        ("monthly markdown", lambda s: reports.monthly_markdown(s, policy=policy, now=now, month="2026-10")),
        ("status all services", lambda s: status.all_services(s, policy=policy, now=now)),
        ("metrics scrape", lambda s: metrics.exposition(s, now=now)),
    ):
        times = []
        for _ in range(5):
            with sessions() as s:
                t = time.perf_counter()
                fn(s)
                times.append(time.perf_counter() - t)
        print(f"{label:<26} median {sorted(times)[2] * 1000:8.1f} ms  (5 runs)")
    engine.dispose()


if __name__ == "__main__":
    main()
