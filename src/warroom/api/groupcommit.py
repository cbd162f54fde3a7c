"""Group commit: one writer thread runs queued units of work in a shared transaction.

Every caller is answered only after the commit that contains its work. Units share the
transaction without SAVEPOINTs (two round trips a unit on PostgreSQL): if any unit raises, or
the commit fails, or the batch loses a lock race (deadlock), the whole transaction is rolled
back and the batch is replayed one unit per transaction, so a bad unit fails alone and its
neighbours are stored. When the database is unreachable every unit of the batch fails with that
error (the API answers 503) and none is answered as stored.

Units may name lock keys; `prelock` takes the union of a batch's keys in sorted order before
any unit runs, so two processes' batches over the same keys cannot deadlock each other.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from warroom import outage

log = logging.getLogger(__name__)
Work = Callable[[Session], Any]
Prelock = Callable[[Session, list[str]], None]
Unit = tuple[Work, "Future[Any]", frozenset[str]]


class GroupCommitter:
    """Batches up to `max_batch` waiting units per transaction; the thread stops when idle."""

    def __init__(self, sessions: sessionmaker[Session], *, max_batch: int = 64,
                 idle_exit: float = 5.0, name: str = "warroom-writer",
                 prelock: Prelock | None = None) -> None:
        self.sessions = sessions
        self.prelock = prelock
        self.max_batch = max_batch
        self.idle_exit = idle_exit
        self.name = name
        self._queue: queue.SimpleQueue[Unit] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.batches = 0
        self.units = 0
        self.replays = 0

    def submit(self, work: Work, keys: Iterable[str] = ()) -> Future[Any]:
        future: Future[Any] = Future()
        with self._lock:
            self._queue.put((work, future, frozenset(keys)))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
                self._thread.start()
        return future

    def _run(self) -> None:
        while True:
            try:
                first = self._queue.get(timeout=self.idle_exit)
            except queue.Empty:
                with self._lock:
                    if self._queue.empty():
                        self._thread = None
                        return
                continue
            batch = [first]
            while len(batch) < self.max_batch:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            try:
                self._commit(batch)
            except BaseException as exc:  # noqa: BLE001 - never leave a caller waiting
                log.exception("group commit failed")
                for _, future, _ in batch:
                    if not future.done():
                        future.set_exception(exc)

    def _commit(self, batch: list[Unit]) -> None:
        outcomes: list[tuple[Future[Any], bool, Any]] = []
        try:
            with self.sessions() as session:
                if self.prelock is not None:
                    self.prelock(session, sorted(set().union(*(keys for _, _, keys in batch))))
                for work, future, _ in batch:
                    try:
                        outcomes.append((future, True, work(session)))
                    except Exception as exc:  # noqa: BLE001
                        if len(batch) > 1 or outage.is_outage(exc):
                            raise  # the shared transaction holds its partial work: replay alone
                        session.rollback()
                        outcomes.append((future, False, exc))
                session.commit()
        except Exception as exc:
            if len(batch) == 1 or (outage.is_outage(exc) and not outage.is_conflict(exc)):
                for _, future, _ in batch:  # nothing of this batch is committed
                    future.set_exception(exc)
                return
            self.replays += 1
            log.warning("batch of %d failed (%s); replaying one by one", len(batch), outage.one_line(exc))
            for unit in batch:
                self._commit([unit])
            return
        self.batches += 1
        self.units += len(batch)
        for future, ok, value in outcomes:
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)
