"""Turns at SQLite's one write lock: a batch writer (the ingest writer thread) goes after everyone else.

SQLite lets one transaction write at a time, and a writer that finds the lock taken sleeps in the
busy handler (up to 100 ms between tries). A batch writer that commits back to back (an alert
storm stored a chunk per transaction) takes the lock again within a millisecond, so a person's
note kept losing the race for seconds. Here the batch writer marks its transactions: any other
writer of this process that begins while one is open waits for its end (woken at once, not by
polling) and begins first, and the batch's next transaction waits until those writers have
begun (bounded by `max_wait`). A writer counts as waiting for its whole BEGIN, not only when it
found a batch open: one that began while no batch was open and met the lock taken (a WAL restart,
another process, a batch that began a moment after its check) sleeps in SQLite's busy handler, and
uncounted it lost every retry to the batches committing back to back (seconds, issue 19). Other
processes still meet SQLite's busy handler; read-only transactions (BEGIN DEFERRED) never wait here.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.engine import Engine

WAIT_LIMIT_S = 30.0  # as the busy timeout: a batch transaction never lasts that long


class WriteTurns:
    """One per SQLite engine (see `for_engine`)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._batch: int | None = None  # the thread whose batch transaction is open
        self._waiting = 0  # other writers waiting for it to end

    @contextmanager
    def batch(self, max_wait: float = 1.0) -> Iterator[None]:
        """Around one batch transaction: others waiting begin first."""
        with self._cond:
            if self._waiting:
                self._cond.wait_for(lambda: self._waiting == 0, timeout=max_wait)
            self._batch = threading.get_ident()
        try:
            yield
        finally:
            with self._cond:
                self._batch = None
                self._cond.notify_all()

    @contextmanager
    def writer(self) -> Iterator[None]:
        """Around another writer's BEGIN: wait for the open batch transaction, if any, to end, and
        keep the next one from beginning until this BEGIN has returned."""
        if self._batch == threading.get_ident():
            yield  # the batch's own thread (its transaction's BEGIN)
            return
        with self._cond:
            self._waiting += 1  # until this BEGIN returns: no batch begins meanwhile
            if self._batch is not None:
                self._cond.wait_for(lambda: self._batch is None, timeout=WAIT_LIMIT_S)
        try:
            yield
        finally:
            with self._cond:
                self._waiting -= 1
                self._cond.notify_all()


_TURNS: weakref.WeakKeyDictionary[Engine, WriteTurns] = weakref.WeakKeyDictionary()


def for_engine(engine: Engine) -> WriteTurns | None:
    """The engine's turns (SQLite files and memory); None for PostgreSQL, whose row locks queue fairly."""
    return _TURNS.get(engine)


def attach(engine: Engine) -> WriteTurns:
    turns = _TURNS[engine] = WriteTurns()
    return turns
