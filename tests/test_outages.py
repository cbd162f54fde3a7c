"""Database outages and lock races: the API answers 503 with Retry-After, the worker backs off with
one line per failed pass and keeps its claimed jobs, group commit replays a deadlocked batch.
(The full story, with PostgreSQL really restarted under load, is in tests/faults/.)"""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from sqlalchemy import exc as sa_exc
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tests.support.notify import make_policy
from tests.support.server import ThreadedServer, free_port, http_client
from tests.support.wired import HOOKS, JOBS, job_runner
from warroom.app import create_app
from warroom.core.clock import FakeClock
from warroom.core.db import make_engine, session_factory
from warroom.core.settings import Settings
from warroom.ingest.fastpath.groupcommit import GroupCommitter
from warroom.policy import Policy, reference_policy
from warroom.scheduler import runner
from warroom.scheduler import service as reminders
from warroom.scheduler.models import DueJob
from warroom.users.models import AppSetting
from warroom.worker import Worker


def _down_url() -> str:
    return f"postgresql://warroom:pw@127.0.0.1:{free_port()}/warroom"  # nothing listens there


def _outage() -> sa_exc.OperationalError:
    return sa_exc.OperationalError("SELECT 1", {}, psycopg.OperationalError("connection refused"))


def test_api_answers_503_with_retry_after_while_the_database_is_down(caplog: pytest.LogCaptureFixture) -> None:
    url = _down_url()
    app = create_app(Settings(database_url=url), policy=reference_policy())
    server = ThreadedServer(app).start()
    caplog.set_level(logging.WARNING)
    try:
        with http_client(base_url=server.url, timeout=30) as c:
            answers = [
                c.get("/api/v1/incidents", headers={"Authorization": "Bearer wru_x"}),
                c.post(
                    "/api/v1/ingest/datadog?token=wri_abcdefgh12345",
                    json={"transition": "Triggered", "title": "x", "alert_id": "1"},
                ),
                c.post(
                    "/api/v1/incidents/INC-1/updates", json={"message": "m"}, headers={"Authorization": "Bearer wru_x"}
                ),
            ]
            health = c.get("/healthz")
    finally:
        server.stop()
    for r in answers:
        assert r.status_code == 503, r.text
        assert r.headers["retry-after"] == "2"
        assert r.json()["error"]["code"] == "unavailable"
    assert health.status_code == 503
    lines = [r for r in caplog.records if r.name == "warroom.api.errors"]
    assert len(lines) == 1, [r.getMessage() for r in lines]  # throttled: one line, not one per request
    assert lines[0].exc_info is None and "database unavailable" in lines[0].getMessage()
    assert "wri_abcdefgh12345" not in caplog.text


def test_worker_backs_off_with_one_line_per_failed_pass(caplog: pytest.LogCaptureFixture) -> None:
    engine = make_engine(_down_url())
    policy = make_policy(worker={"poll_interval": "50ms"})
    worker = Worker(
        session_factory(engine), settings=Settings(), policy=policy, clock=FakeClock(), jobs=JOBS, hooks=HOOKS
    )
    caplog.set_level(logging.WARNING, logger="warroom")
    thread = threading.Thread(target=worker.run)
    thread.start()
    time.sleep(1.6)
    worker.stop.set()
    thread.join(timeout=15)
    engine.dispose()
    assert not thread.is_alive()
    failed = [r for r in caplog.records if "worker pass failed" in r.getMessage()]
    # 50ms poll doubling: 0.1 + 0.2 + 0.4 + 0.8 = 1.5s -> about 4-5 passes, not 30
    assert 2 <= len(failed) <= 6, [r.getMessage() for r in failed]
    assert all(r.exc_info is None and "\n" not in r.getMessage() for r in failed)
    assert "in a row" in failed[-1].getMessage()


CALLS: list[int] = []


def _flaky(session: Session, ctx: runner.JobContext, job: DueJob) -> None:
    """Fails like a lost connection the first time it runs, then works."""
    CALLS.append(job.id)
    if len(CALLS) == 1:
        raise _outage()
    job.last_error = "ran"


def _flaky_runner(policy: Policy, clock: FakeClock) -> runner.Runner:
    return job_runner(policy, clock, "w1", jobs={**JOBS, "test_flaky_db": runner.JobSpec(_flaky)})


def test_a_job_whose_transaction_died_with_the_database_runs_again_first(
    sessions: sessionmaker[Session], clock: FakeClock, policy: Policy
) -> None:
    CALLS.clear()
    with sessions.begin() as s:
        for i in range(3):
            reminders.schedule(s, kind="test_flaky_db", subject=f"t:{i}", due_at=clock.now(), now=clock.now())
    held: list[Any] = []
    with pytest.raises(sa_exc.OperationalError):
        runner.run_due_jobs(sessions, _flaky_runner(policy, clock), held=held)
    assert len(held) == 3  # nothing of the failed job was committed; the others were not started
    clock.advance(timedelta(seconds=1))
    assert runner.run_due_jobs(sessions, _flaky_runner(policy, clock), held=held) == 3
    assert held == [] and CALLS[0] == CALLS[1]  # the failed job ran again, first
    with sessions() as s:
        jobs = list(s.scalars(select(DueJob).where(DueJob.kind == "test_flaky_db")))
    assert all(j.done and j.last_error == "ran" and j.attempts == 1 for j in jobs)


def test_group_commit_prelocks_sorted_keys_and_replays_a_deadlocked_batch(sessions: sessionmaker[Session]) -> None:
    taken: list[list[str]] = []
    writer = GroupCommitter(sessions, idle_exit=0.5, prelock=lambda s, keys: taken.append(keys))
    gate, running = threading.Event(), threading.Event()
    deadlocks = [
        sa_exc.OperationalError(
            "SELECT pg_advisory_xact_lock(1)", {}, psycopg.errors.DeadlockDetected("deadlock detected")
        )
    ]

    def block(session: Session) -> None:
        running.set()
        gate.wait(10)

    def put(key: str, lose_race: bool = False):  # type: ignore[no-untyped-def]
        def work(session: Session) -> str:
            session.add(AppSetting(key=key, value="v"))
            session.flush()
            if lose_race and deadlocks:
                raise deadlocks.pop()
            return key

        return work

    first = writer.submit(block, ["m"])
    assert running.wait(10)
    futures = [
        writer.submit(put("a"), ["svc-b", "svc-a"]),
        writer.submit(put("b", lose_race=True), ["svc-c"]),
        writer.submit(put("c"), ["svc-a"]),
    ]
    gate.set()
    first.result(10)
    assert [f.result(10) for f in futures] == ["a", "b", "c"]  # replayed one by one, all kept
    assert writer.replays == 1
    assert taken[:2] == [["m"], ["svc-a", "svc-b", "svc-c"]]  # the batch's union, sorted
    with sessions() as s:
        assert sorted(s.scalars(select(AppSetting.key))) == ["a", "b", "c"]


def test_group_commit_fails_every_unit_when_the_database_is_down() -> None:
    engine = make_engine(_down_url())
    writer = GroupCommitter(session_factory(engine), idle_exit=0.2)

    def put(session: Session) -> str:
        session.add(AppSetting(key="k", value="v"))
        session.flush()
        return "stored"

    futures = [writer.submit(put) for _ in range(5)]
    for f in futures:
        with pytest.raises(sa_exc.OperationalError):
            f.result(30)
    engine.dispose()
