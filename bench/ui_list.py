"""Render the web incident list with 100,000 incidents in the database; prints ms per render.

Usage: python bench/ui_list.py [DATABASE_URL] [--incidents N]   (default: a fresh SQLite file)
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from fastapi.testclient import TestClient

from warroom import migrate
from warroom.app import create_app
from warroom.core.db import make_engine, session_factory
from warroom.core.settings import Settings
from warroom.incidents.models import Incident, IncidentService
from warroom.policy import reference_policy
from warroom.users import service as users

PASSWORD = "bench-password-1"
QUERIES = [
    "/incidents",
    "/incidents?page=1500",
    "/incidents?state=open",
    "/incidents?priority=P2&service=usip",
    "/incidents?state=completed&from=2025-06-01&to=2025-06-30",
    "/",
]


def seed(engine: sa.Engine, count: int) -> None:
    """Bulk insert with Core, in batches, like a database that has run for years."""
    rng = random.Random(7)
    services = ["usip", "ssoe", "sis", "tou", "csp", "mpi"]
    start = datetime(2020, 1, 1, tzinfo=UTC)
    inc_rows, svc_rows = [], []
    for i in range(1, count + 1):
        declared = start + timedelta(minutes=25 * i)
        state = "completed" if i < count - 40 else rng.choice(["active", "stable", "resolved"])
        inc_rows.append(
            dict(
                id=i,
                title=f"Service {i % 97} is experiencing degraded service",
                state=state,
                priority=rng.choice(["P1", "P2", "P3", "P4"]),
                severity=f"SEV-{rng.randint(1, 5)}",
                commander="alice",
                declared_by="alice",
                roles={},
                monitors=[],
                teams=[],
                acknowledged_by_team=False,
                pending_tasks=[],
                declared_automatically=False,
                declared_at=declared,
                missed_updates=0,
                updated_at=declared,
                next_update_due_at=declared + timedelta(minutes=30) if state in ("active", "stable") else None,
            )
        )
        svc_rows.append(dict(incident_id=i, service=services[i % len(services)], position=0))
    with engine.begin() as conn:
        for n in range(0, count, 5000):
            conn.execute(sa.insert(Incident.__table__), inc_rows[n : n + 5000])
            conn.execute(sa.insert(IncidentService.__table__), svc_rows[n : n + 5000])
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text("ANALYZE"))
            conn.execute(sa.text("SELECT setval('incidents_id_seq', :n)"), {"n": count})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url", nargs="?")
    parser.add_argument("--incidents", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    url = args.url or f"sqlite:///{tempfile.mkdtemp()}/bench.db"
    migrate.upgrade(url)
    engine = make_engine(url)
    t = time.perf_counter()
    seed(engine, args.incidents)
    print(f"seeded {args.incidents} incidents in {time.perf_counter() - t:.1f}s ({engine.dialect.name})")
    with session_factory(engine).begin() as s:
        user = users.create_user(s, now=datetime.now(UTC), handle="bench", role="responder")
        users.set_password(user, PASSWORD)
    app = create_app(Settings(database_url=url), policy=reference_policy(), engine=engine)
    with TestClient(app) as client:
        page = client.get("/login")
        token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
        assert client.post("/login", data={"handle": "bench", "password": PASSWORD, "csrf": token}).status_code == 200
        worst = 0.0
        for query in QUERIES:
            assert client.get(query).status_code == 200  # warm up
            times = []
            for _ in range(args.repeat):
                t = time.perf_counter()
                r = client.get(query)
                times.append((time.perf_counter() - t) * 1000)
                assert r.status_code == 200 and "Sign in" not in r.text
            p95 = sorted(times)[int(len(times) * 0.95) - 1]
            worst = max(worst, p95)
            print(f"{query:<58} median {statistics.median(times):6.1f} ms  p95 {p95:6.1f} ms")
    print(f"worst p95 {worst:.1f} ms (target < 200 ms): {'OK' if worst < 200 else 'TOO SLOW'}")
    engine.dispose()
    sys.exit(0 if worst < 200 else 1)


if __name__ == "__main__":
    main()
