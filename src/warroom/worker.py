"""The background worker: runs due jobs (cadence) and delivers the outbox, as a process or a thread in `serve`."""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import delete
from sqlalchemy.orm import Session, sessionmaker

from warroom.core import outage, wake
from warroom.core.clock import Clock, SystemClock
from warroom.core.hooks import Hooks, WorkerContext
from warroom.core.runtime import new_worker_id
from warroom.core.settings import Settings, in_force
from warroom.core.state import AppState
from warroom.notifications import delivery, rules
from warroom.policy import Policy
from warroom.registry import Registry
from warroom.scheduler import runner
from warroom.scheduler.models import WorkerHeartbeat

log = logging.getLogger(__name__)
FORGET_AFTER = timedelta(days=1)
MAX_BACKOFF_S = 5.0
STOP_CHECK_S = 0.05  # how often an idle worker looks at its stop event (a wake needs no look)


class Worker:
    """One loop: claim due jobs, claim and deliver notifications, beat; sleeps only when idle."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        settings: Settings,
        policy: Policy,
        clock: Clock,
        jobs: runner.Jobs,
        hooks: Hooks,
        worker_id: str | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        """`jobs` and `hooks`: the wiring's (`Registry.jobs`, `Registry.hooks()`)."""
        policy = in_force(policy, settings)
        self.sessions, self.settings, self.policy, self.clock = sessions, settings, policy, clock
        self.worker_id = worker_id or new_worker_id()
        self.runner = runner.Runner(jobs=jobs, policy=policy, clock=clock, worker_id=self.worker_id, hooks=hooks)
        hooks.setup_process()
        self.task_context = WorkerContext(sessions=sessions, settings=settings, policy=policy, clock=clock)
        self.stop = stop or threading.Event()
        self.processed = 0
        self.started_at = clock.now()
        self.held_jobs: list[runner.Claimed] = []  # claimed due jobs not yet run (database outage)
        self.failures = 0  # passes failed in a row
        self.waker = wake.subscribe()  # set when a transaction of this process (or, on PostgreSQL, any) queues work

    def beat(self, *, stopped: bool = False) -> None:
        now = self.clock.now()
        with self.sessions.begin() as session:
            row = session.get(WorkerHeartbeat, self.worker_id)
            if row is None:
                row = WorkerHeartbeat(
                    worker_id=self.worker_id,
                    host=socket.gethostname()[:255],
                    pid=os.getpid(),
                    started_at=self.started_at,
                    beat_at=now,
                    processed=0,
                )
                session.add(row)
                session.execute(delete(WorkerHeartbeat).where(WorkerHeartbeat.beat_at < now - FORGET_AFTER))
            row.beat_at, row.processed = now, self.processed
            row.stopped_at = now if stopped else None

    def run_once(self) -> int:
        """One pass; returns how much work it did (0 = idle)."""
        jobs = runner.run_due_jobs(self.sessions, self.runner, limit=self.policy.worker.job_batch, held=self.held_jobs)
        sent = delivery.run_batch(
            self.sessions,
            settings=self.settings,
            policy=self.policy,
            clock=self.clock,
            worker_id=self.worker_id,
            stop=self.stop,
        )
        tasks = sum(task(self.task_context) for task in self.runner.hooks.worker_tasks)
        self.processed += jobs + sent + tasks
        return jobs + sent + tasks

    def drain(self, max_passes: int = 100) -> int:
        """Run passes until idle (tests and the benchmark); bounded so it cannot loop forever."""
        total = 0
        for _ in range(max_passes):
            done = self.run_once()
            total += done
            if not done:
                break
        return total

    def run(self) -> None:
        cfg = self.policy.worker
        log.info("worker %s started", self.worker_id)
        for problem in rules.setup_problems(self.policy, slack_token=bool(self.settings.slack_token)):
            log.warning("%s", problem)
        last_beat = -1e9
        wake.start_listener(self.settings.database_url, self.stop)
        while not self.stop.is_set():
            self.waker.clear()  # a commit from here on wakes the idle wait below at once
            try:
                if time.monotonic() - last_beat >= cfg.heartbeat_every.total_seconds():
                    self.beat()
                    last_beat = time.monotonic()
                done = self.run_once()
            except Exception as exc:  # noqa: BLE001 - a database outage or a bug must not kill the worker
                self._failed(exc)
                continue
            if self.failures:
                log.warning("worker %s: database reachable again after %d failed passes", self.worker_id, self.failures)
                self.failures = 0
                last_beat = -1e9  # show we are alive at once
                continue
            if not done:
                self.idle(cfg.poll_interval.total_seconds())
        try:
            self.beat(stopped=True)
        except Exception as exc:  # noqa: BLE001
            log.warning("final heartbeat failed: %s", outage.one_line(exc))
        log.info("worker %s stopped after %d items", self.worker_id, self.processed)

    def idle(self, seconds: float) -> bool:
        """Wait until work is committed (woken), `stop`, or `seconds` (the poll: the fallback); True if woken."""
        deadline = time.monotonic() + seconds
        while not self.stop.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            if self.waker.wait(min(left, STOP_CHECK_S)):
                return True
        return False

    def _failed(self, exc: Exception) -> None:
        """One log line per failed pass (a traceback only for what is not an outage), then back off."""
        self.failures += 1
        wait = min(MAX_BACKOFF_S, self.policy.worker.poll_interval.total_seconds() * 2**self.failures)
        if outage.is_outage(exc):
            log.warning(
                "worker pass failed (%d in a row, next try in %.1fs): %s", self.failures, wait, outage.one_line(exc)
            )
        else:
            log.exception("worker pass failed (%d in a row, next try in %.1fs)", self.failures, wait)
        self.stop.wait(wait)


def start_background_worker(state: AppState, registry: Registry) -> tuple[Worker, Callable[[], None]]:
    """Start the worker loop in a thread inside `serve`; returns it and a stop function."""
    worker = Worker(
        state.sessions,
        settings=state.settings,
        policy=state.policy,
        clock=state.clock,
        jobs=registry.jobs,
        hooks=state.hooks,
    )
    thread = threading.Thread(target=worker.run, name="warroom-worker", daemon=True)
    thread.start()

    def stop() -> None:
        worker.stop.set()
        thread.join(timeout=max(30.0, state.policy.notifications.timeout.total_seconds() * 2))

    return worker, stop


def run_forever(settings: Settings, policy: Policy, registry: Registry) -> None:
    """`warroom worker`: run until SIGTERM/SIGINT, finishing the row in hand."""
    from warroom import migrate
    from warroom.core.db import make_engine, session_factory
    from warroom.core.logs import setup_logging

    setup_logging(settings)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    signal.signal(signal.SIGINT, lambda signum, frame: stop.set())
    if not migrate.wait_for_schema(settings.database_url, stop=stop):  # started with the first `serve`
        return
    # No ping on checkout, even after idling (a round trip per transaction, and the worker runs
    # many small ones): after a PostgreSQL restart the first failure invalidates the whole pool
    # and the pass is retried.
    engine = make_engine(
        settings.database_url, pool_size=policy.notifications.concurrency + 2, max_overflow=2, ping_idle=None
    )
    worker = Worker(
        session_factory(engine),
        settings=settings,
        policy=policy,
        clock=SystemClock(),
        jobs=registry.jobs,
        hooks=registry.hooks(),
        stop=stop,
    )

    def on_signal(signum: int, frame: Any) -> None:
        log.info("signal %s: stopping after the row in hand", signum)
        worker.stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    print(f"warroom worker {worker.worker_id} running", flush=True)
    try:
        worker.run()
    finally:
        engine.dispose()
