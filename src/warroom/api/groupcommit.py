"""Group commit: one writer thread runs queued units of work in a shared transaction.

Each unit runs in its own SAVEPOINT, so one failing unit rolls back alone; every caller is
answered only after the commit that contains its work. If the commit itself fails, the batch
is replayed one unit per transaction so a single bad unit cannot fail its neighbours.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger(__name__)
Work = Callable[[Session], Any]


class GroupCommitter:
    """Batches up to `max_batch` waiting units per transaction; the thread stops when idle."""

    def __init__(self, sessions: sessionmaker[Session], *, max_batch: int = 64,
                 idle_exit: float = 5.0, name: str = "warroom-writer") -> None:
        self.sessions = sessions
        self.max_batch = max_batch
        self.idle_exit = idle_exit
        self.name = name
        self._queue: queue.SimpleQueue[tuple[Work, Future[Any]]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.batches = 0
        self.units = 0

    def submit(self, work: Work) -> Future[Any]:
        future: Future[Any] = Future()
        with self._lock:
            self._queue.put((work, future))
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
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)

    def _commit(self, batch: list[tuple[Work, Future[Any]]]) -> None:
        outcomes: list[tuple[Future[Any], bool, Any]] = []
        try:
            with self.sessions() as session:
                if len(batch) == 1:  # the transaction isolates a lone unit; no SAVEPOINT needed
                    work, future = batch[0]
                    try:
                        outcomes.append((future, True, work(session)))
                    except Exception as exc:  # noqa: BLE001 - answered below, nothing kept
                        session.rollback()
                        outcomes.append((future, False, exc))
                else:
                    for work, future in batch:
                        try:
                            with session.begin_nested():
                                outcomes.append((future, True, work(session)))
                        except Exception as exc:  # noqa: BLE001 - this unit alone fails
                            outcomes.append((future, False, exc))
                session.commit()
        except Exception as exc:
            if len(batch) == 1:
                batch[0][1].set_exception(exc)
                return
            log.warning("batch of %d failed at commit (%s); replaying one by one", len(batch), exc)
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
