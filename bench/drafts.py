"""Cost of the update drafts the worker builds for a batch of due incidents (automatic updates).

300 open incidents without alerts (the common case) are declared in-process; then 100 batches of
1-60 random incidents each go through `drafts.gather` + `drafts.build`, as the cadence job does.
Prints CPU and wall time per draft and SQL statements per batch, on SQLite and PostgreSQL.

    PYTHONPATH=src:. python bench/drafts.py
"""

from __future__ import annotations

import random
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import event, select
from tests.support import databases

from warroom import migrate
from warroom.core.db import make_engine, session_factory
from warroom.incidents import drafts
from warroom.incidents import service as incidents
from warroom.incidents.models import Incident
from warroom.incidents.schemas import IncidentCreate
from warroom.policy import reference_policy


def run(url: str) -> None:
    migrate.upgrade(url)
    engine = make_engine(url)
    sessions, policy, now = session_factory(engine), reference_policy(), datetime.now(UTC)
    with sessions.begin() as s:
        for i in range(300):
            incidents.declare(
                s,
                policy=policy,
                now=now,
                actor="bench",
                data=IncidentCreate(services=["sis"], priority="P3", severity="SEV-3", title=f"bench {i}"),
            )
    statements = [0]
    event.listen(engine, "before_cursor_execute", lambda *a: statements.__setitem__(0, statements[0] + 1))
    rng = random.Random(1)
    with sessions() as s:
        open_ = list(s.scalars(select(Incident)))
        for _ in range(30):  # warm SQLAlchemy's statement cache
            drafts.gather(s, rng.sample(open_, rng.randint(1, 60)))
        statements[0], drafted = 0, 0
        cpu, wall = time.process_time(), time.perf_counter()
        for _ in range(100):
            batch = rng.sample(open_, rng.randint(1, 60))
            got = drafts.gather(s, batch)
            for incident in batch:
                drafts.build(s, incident=incident, now=now, inputs=got[incident.id])
            drafted += len(batch)
        print(
            f"{engine.dialect.name}: {(time.process_time() - cpu) * 1000 / drafted:.2f} ms CPU and "
            f"{(time.perf_counter() - wall) * 1000 / drafted:.2f} ms wall per draft, "
            f"{statements[0] / 100:.1f} statements per batch ({drafted} drafts)",
            flush=True,
        )
    engine.dispose()


def main() -> None:
    run(f"sqlite:///{Path(tempfile.mkdtemp()) / 'drafts.db'}")
    url = databases.create_pg_database()
    try:
        run(url)
    finally:
        databases.drop_pg_database(url)


if __name__ == "__main__":
    main()
