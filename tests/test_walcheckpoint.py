"""SQLite WAL checkpoints on a side thread: the WAL file stays bounded under sustained writes."""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

import pytest

from tests.support.alerts import accepted, ingest_token
from tests.support.server import Running
from warroom.ingest.fastpath.walcheckpoint import WalCheckpointer


def _write_for(path: Path, seconds: float, checkpointer: WalCheckpointer | None) -> tuple[int, int]:
    """Back-to-back write transactions (the ingest writer under load): the largest WAL seen, and
    the bytes of row data written (a lower bound of what went through the WAL)."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA wal_autocheckpoint=0")  # only the side thread checkpoints
    conn.execute("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v TEXT)")
    wal, largest, written, deadline = Path(f"{path}-wal"), 0, 0, time.monotonic() + seconds
    while time.monotonic() < deadline:
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany("INSERT INTO t (v) VALUES (?)", [(os.urandom(200).hex(),)] * 50)
        conn.execute("COMMIT")
        written += 50 * 400
        if checkpointer is not None:
            checkpointer.after_commit()
        largest = max(largest, wal.stat().st_size)
    conn.close()
    return largest, written


def test_wal_stays_bounded_when_the_writer_restarts_it(tmp_path: Path) -> None:
    path = tmp_path / "w.db"
    checkpointer = WalCheckpointer(str(path), interval=0.02, soft_pages=200).start()
    try:
        largest, written = _write_for(path, 3.0, checkpointer)
    finally:
        checkpointer.stop()
    assert checkpointer.passes > 20 and checkpointer.restarts > 5
    # The WAL starts over again and again: it never holds more than a fraction of what went through
    # it (how much depends on how fast this machine writes between two of the thread's passes).
    assert largest < written / 5, f"WAL grew to {largest} bytes of {written} written"


def test_passive_checkpoints_alone_let_the_wal_grow(tmp_path: Path) -> None:
    """Why the writer restarts the WAL: a side thread's passive passes never let it start over."""
    path = tmp_path / "w.db"
    checkpointer = WalCheckpointer(str(path), interval=0.02, soft_pages=200).start()
    try:
        largest, written = _write_for(path, 3.0, None)  # the writer never calls after_commit
    finally:
        checkpointer.stop()
    assert checkpointer.passes > 20 and checkpointer.restarts == 0
    assert largest > written, f"WAL stayed at {largest} bytes of {written} written"


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_serve_checkpoints_on_a_side_thread_and_the_ingest_writer_restarts(server: Running) -> None:
    checkpointer = server.app.fastpath.checkpointer
    assert isinstance(checkpointer, WalCheckpointer)
    checkpointer.soft_pages = 20  # a small limit: 40 alerts, each its own commit, pass it
    token = ingest_token(server, "datadog")
    body = {"alert_id": "m", "transition": "Triggered", "title": "[Triggered] load", "tags": "env:prod,service:sis"}
    for i in range(40):
        accepted(server, token, "datadog", {**body, "cycle_key": str(i)})
    # the side thread sees the WAL pass the limit (a later commit may already have restarted it)
    assert checkpointer.restart_wanted.wait(10) or checkpointer.restarted.is_set()
    accepted(server, token, "datadog", {**body, "cycle_key": "last"})
    assert checkpointer.restarted.wait(10)  # the ingest writer restarted it after a commit
