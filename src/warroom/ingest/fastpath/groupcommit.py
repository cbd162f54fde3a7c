"""Group commit: one writer thread runs queued units of work in a shared transaction.

Every caller is answered only after the commit that contains its work. Units share the
transaction without SAVEPOINTs (two round trips a unit on PostgreSQL): if any unit raises, or
the commit fails, or the batch loses a lock race (deadlock), the whole transaction is rolled
back and the batch is replayed one unit per transaction, so a bad unit fails alone and its
neighbours are stored. When the database is unreachable every unit of the batch fails with that
error (the API answers 503) and none is answered as stored.

On SQLite, `turns` (core.writeturns) makes each batch transaction wait for the other writers of
the process that are waiting for it, so a long run of batches never starves a person's write.

Units may name lock keys; `prelock` takes the union of a batch's keys in sorted order before
any unit runs, so two processes' batches over the same keys cannot deadlock each other.

`run_batch` lets a caller run a whole batch's units at once (set-based SQL for many webhook
deliveries); `submit_async` answers asyncio callers with one event-loop wake-up per batch.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from contextlib import nullcontext
from typing import Any

from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session, sessionmaker

from warroom.core import outage
from warroom.core.writeturns import WriteTurns

log = logging.getLogger(__name__)
Work = Callable[[Session], Any]
Prelock = Callable[[Session, list[str]], None]
RunBatch = Callable[[Session, list[Any]], list[Any]]
Done = Future[Any] | tuple[asyncio.AbstractEventLoop, "asyncio.Future[Any]"]
Unit = tuple[Any, Done, frozenset[str]]
Outcome = tuple[Done, bool, Any]


def _stale(exc: BaseException) -> bool:
    return isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated


def _one_by_one(session: Session, works: list[Any]) -> list[Any]:
    return [work(session) for work in works]


def _settle_async(outcomes: list[tuple[asyncio.Future[Any], bool, Any]]) -> None:
    """Runs in the callers' event loop: one wake-up settles every caller of a batch."""
    for fut, ok, value in outcomes:
        if fut.done():  # the caller went away (client disconnected)
            continue
        if ok:
            fut.set_result(value)
        else:
            fut.set_exception(value)


class GroupCommitter:
    """Batches up to `max_batch` waiting units per transaction; the thread stops when idle."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        max_batch: int = 64,
        idle_exit: float = 5.0,
        name: str = "warroom-writer",
        prelock: Prelock | None = None,
        run_batch: RunBatch | None = None,
        on_commit: Callable[[int, float], None] | None = None,
        turns: WriteTurns | None = None,
    ) -> None:
        self.sessions = sessions
        self.turns = turns  # SQLite: other writers of this process go before each batch
        self.on_commit = on_commit  # (units, seconds) of each committed batch, for metrics
        self.prelock = prelock
        self.run_batch = run_batch or _one_by_one
        self.max_batch = max_batch
        self.idle_exit = idle_exit
        self.name = name
        self._queue: queue.SimpleQueue[Unit] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.batches = 0
        self.units = 0
        self.replays = 0

    def submit(self, work: Any, keys: Iterable[str] = ()) -> Future[Any]:
        future: Future[Any] = Future()
        self._put((work, future, frozenset(keys)))
        return future

    def submit_async(self, work: Any, keys: Iterable[str] = ()) -> asyncio.Future[Any]:
        """From inside a running event loop; the result arrives without a thread hop per unit."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._put((work, (loop, future), frozenset(keys)))
        return future

    def run_here(self, works: list[Any]) -> list[Future[Any]]:
        """Run `works` in the calling thread, `max_batch` to a transaction, with the same
        answers, replays and outage handling as the writer thread (for a caller that is its
        own queue: the ingest writer process, `api.ingest_proc`)."""
        futures: list[Future[Any]] = [Future() for _ in works]
        for start in range(0, len(works), self.max_batch):
            chunk = range(start, min(start + self.max_batch, len(works)))
            batch: list[Unit] = [(works[i], futures[i], frozenset()) for i in chunk]
            try:
                self._commit(batch)
            except BaseException as exc:  # noqa: BLE001 - never leave a caller waiting
                log.exception("group commit failed")
                self._settle([(done, False, exc) for _, done, _ in batch], only_pending=True)
        return futures

    def _put(self, unit: Unit) -> None:
        with self._lock:
            self._queue.put(unit)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
                self._thread.start()

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
                self._settle([(done, False, exc) for _, done, _ in batch], only_pending=True)

    def _commit(self, batch: list[Unit], *, retried: bool = False) -> None:
        started = time.perf_counter()
        committing = False
        try:
            with self.turns.batch() if self.turns is not None else nullcontext(), self.sessions() as session:
                if self.prelock is not None:
                    self.prelock(session, sorted(set().union(*(keys for _, _, keys in batch))))
                try:
                    results = self.run_batch(session, [work for work, _, _ in batch])
                    outcomes: list[Outcome] = [
                        (done, True, value) for (_, done, _), value in zip(batch, results, strict=True)
                    ]
                except Exception as exc:  # noqa: BLE001
                    if len(batch) > 1 or outage.is_outage(exc):
                        raise  # the shared transaction holds its partial work: replay alone
                    session.rollback()
                    outcomes = [(batch[0][1], False, exc)]
                committing = True
                session.commit()
        except Exception as exc:
            if not committing and not retried and _stale(exc):
                # the connection died since its last use (the database restarted): the batch never
                # reached its commit, so it runs once more on a fresh connection
                log.info("batch of %d lost its connection (%s); running it again", len(batch), outage.one_line(exc))
                self._commit(batch, retried=True)
                return
            if len(batch) == 1 or (outage.is_outage(exc) and not outage.is_conflict(exc)):
                # nothing of this batch is committed
                self._settle([(done, False, exc) for _, done, _ in batch])
                return
            self.replays += 1
            log.warning("batch of %d failed (%s); replaying one by one", len(batch), outage.one_line(exc))
            for unit in batch:
                self._commit([unit])
            return
        self.batches += 1
        self.units += len(batch)
        self._settle(outcomes)
        if self.on_commit is not None:
            self.on_commit(len(batch), time.perf_counter() - started)

    @staticmethod
    def _settle(outcomes: list[Outcome], *, only_pending: bool = False) -> None:
        loops: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], bool, Any]]] = {}
        for done, ok, value in outcomes:
            if isinstance(done, Future):
                if only_pending and done.done():
                    continue
                if ok:
                    done.set_result(value)
                else:
                    done.set_exception(value)
            else:
                loops.setdefault(done[0], []).append((done[1], ok, value))
        for loop, settled in loops.items():
            try:
                loop.call_soon_threadsafe(_settle_async, settled)
            except RuntimeError:  # that loop has closed: nobody is waiting any more
                log.debug("event loop closed before %d answers", len(settled))
