"""SQLite WAL checkpoints on a side thread, so the ingest writer's commits do not run them.

SQLite checkpoints inside whichever connection commits once the WAL holds 1,000 pages: it copies
pages into the database file and syncs it, while every sender in that group-commit batch waits
(~20% of the writer's time under load, and the source of its latency tail). In `serve` the
connections only checkpoint as a safety net (`make_engine(wal_autocheckpoint=...)`) and this thread
copies WAL frames in the background with PASSIVE checkpoints, which never block a writer.

A passive checkpoint cannot let the WAL start over while writes keep arriving, and a checkpoint
that must wait for the writer (RESTART) loses every race to a writer that commits back to back, so
the file would grow without end (reads slow down as it does). Once the WAL passes `soft_pages` the
thread asks the writer to restart it: the group-commit writer, between two batches, runs a RESTART
checkpoint, which copies the few frames the thread has not copied yet and makes the next write
start the WAL from its beginning. The file stays bounded (tests write for seconds and check its
size; bench/RESULTS.md has the figures under load).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from dataclasses import dataclass

from sqlalchemy.engine import Engine

log = logging.getLogger(__name__)
# How long the writer's RESTART waits for readers. It holds the write lock meanwhile, and a request
# that keeps a read snapshot open while it waits to write (auth reads, then the write) would wait
# for it while it waits for that request: 30 s (the busy timeout) of nobody writing.
RESTART_WAIT_S = 0.05


@dataclass
class Pass:
    """What one checkpoint call reported: WAL pages in all, and how many are in the database file."""

    busy: bool
    wal_pages: int
    copied: int


class WalCheckpointer:
    """One per process and SQLite file; `start` it with the app and `stop` it at shutdown. The
    process's busiest writer calls `after_commit` between its transactions."""

    def __init__(self, path: str, *, interval: float = 0.1, soft_pages: int = 4000) -> None:
        self.path = path
        self.interval = interval
        self.soft_pages = soft_pages
        self.restarts = 0
        self.passes = 0
        self.last: Pass | None = None
        self.restart_wanted = threading.Event()  # set by the thread, taken by `after_commit`
        self.restarted = threading.Event()  # set after every restart
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._conns: dict[str, sqlite3.Connection] = {}
        self._lock = threading.Lock()

    def _connection(self, who: str) -> sqlite3.Connection:
        with self._lock:
            conn = self._conns.get(who)
            if conn is None:
                conn = self._conns[who] = sqlite3.connect(
                    self.path,
                    timeout=RESTART_WAIT_S if who == "writer" else 30,
                    isolation_level=None,
                    check_same_thread=False,
                )
            return conn

    def checkpoint(self, mode: str = "PASSIVE", who: str = "thread") -> Pass:
        busy, wal_pages, copied = self._connection(who).execute(f"PRAGMA wal_checkpoint({mode})").fetchone()
        return Pass(bool(busy), int(wal_pages), int(copied))

    def run_once(self) -> Pass:
        """One passive pass; past the soft limit it asks the writer for a restart."""
        self.last = done = self.checkpoint("PASSIVE")
        self.passes += 1
        if done.wal_pages >= self.soft_pages:
            self.restart_wanted.set()
        return done

    def after_commit(self) -> None:
        """Called by the writer with no transaction open: restart the WAL if the thread asked."""
        if self.restart_wanted.is_set():
            try:
                done = self.checkpoint("RESTART", who="writer")
            except sqlite3.OperationalError:  # "database is locked": another writer, try after the next batch
                return
            if done.busy:  # a reader still uses the WAL: try after the next batch
                return
            self.restarts += 1
            self.restarted.set()
            self.restart_wanted.clear()  # after: one of the two events is always set once asked

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.run_once()
            except sqlite3.Error as exc:  # the file went away, the disk is full...: try again later
                log.warning("WAL checkpoint of %s failed: %s", self.path, exc)

    def start(self) -> WalCheckpointer:
        self._thread = threading.Thread(target=self._run, name="warroom-wal-checkpoint", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        with self._lock:
            for conn in self._conns.values():
                conn.close()
            self._conns.clear()


def for_engine(engine: Engine) -> WalCheckpointer | None:
    """A started checkpoint thread for a SQLite file (none for PostgreSQL or an in-memory database)."""
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        return None
    return WalCheckpointer(database).start()
