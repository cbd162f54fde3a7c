"""SQLite write turns: a person's write that met the lock taken is never starved by a batch writer."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

from sqlalchemy import text

from warroom.core import writeturns
from warroom.core.db import make_engine


def test_a_write_sleeping_in_the_busy_handler_goes_before_the_next_batch(tmp_path: Path) -> None:
    """Issue 19: a note whose BEGIN found the lock held by someone outside the turns (the writer's
    WAL restart, another process) slept in SQLite's busy handler, uncounted, while the ingest
    writer's chunks committed back to back: it waited for the whole storm (seconds)."""
    path = tmp_path / "turns.db"
    engine = make_engine(f"sqlite:///{path}")
    with engine.begin() as c:
        c.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, who TEXT)"))
    turns = writeturns.for_engine(engine)
    assert turns is not None

    outside = sqlite3.connect(path, isolation_level=None)  # the WAL restart's own connection
    outside.execute("BEGIN IMMEDIATE")

    took: list[float] = []
    written = threading.Event()

    def person() -> None:
        t0 = time.monotonic()
        with engine.begin() as c:  # no batch open at its turn: straight to BEGIN, lock taken
            c.execute(text("INSERT INTO t (who) VALUES ('person')"))
        took.append(time.monotonic() - t0)
        written.set()

    storm_ends = time.monotonic() + 3.0  # without the fix the person waits all of it

    def storm() -> None:
        """Chunk transactions back to back, as the group-commit writer runs a storm (until the person wrote)."""
        while not written.is_set() and time.monotonic() < storm_ends:
            with turns.batch(), engine.begin() as c:
                c.execute(text("INSERT INTO t (who) VALUES ('batch')"))
                time.sleep(0.03)

    people = threading.Thread(target=person)
    people.start()
    deadline = time.monotonic() + 1
    while turns._waiting == 0 and time.monotonic() < deadline:
        time.sleep(0.001)  # until the person is in its BEGIN (the busy handler), counted as waiting
    writer = threading.Thread(target=storm)
    writer.start()
    time.sleep(0.2)
    outside.execute("COMMIT")  # the restart ends; a chunk or the person takes the lock next
    people.join(timeout=10)
    writer.join(timeout=10)
    outside.close()
    engine.dispose()
    assert took and took[0] < 1.0, f"the person's write waited {took} s behind the storm"
