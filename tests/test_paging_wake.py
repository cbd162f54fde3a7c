"""Fast paging (issue 21, second half): a commit that queues work wakes an idle worker at once, in
process (both databases) and across processes through LISTEN/NOTIFY (PostgreSQL), with the poll
interval only as the fallback; two worker processes on one PostgreSQL never page a level twice."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from tests.support.http_fakes import WebhookReceiver
from tests.support.oncall import example_data
from tests.support.oncall_fakes import PagerDutyApi
from tests.support.procs import env_for, worker_proc
from tests.support.wired import HOOKS, JOBS
from warroom.core.clock import SystemClock
from warroom.core.db import session_factory
from warroom.core.settings import Settings
from warroom.core.uow import UnitOfWork
from warroom.incidents import service as incidents
from warroom.incidents.models import EscalationPage
from warroom.incidents.schemas import IncidentCreate
from warroom.notifications import service as outbox
from warroom.policy import Policy, parse_policy
from warroom.scheduler.models import WorkerHeartbeat
from warroom.users import service as users
from warroom.worker import Worker

SLOW_POLL = "30s"  # a worker woken only by its poll would take this long
KEY = "0123456789abcdef0123456789abcdef"


def hook_policy(url: str, **extra: Any) -> dict[str, Any]:
    data = example_data()
    data["channels"] = {"hook": {"type": "webhook", "url": url}}
    data["routes"] = {"declared": ["hook"]}
    data["worker"] = {"poll_interval": SLOW_POLL, "heartbeat_every": "1s"}
    data.update(extra)
    return data


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as server:
        yield server


def declare(engine: Engine, policy: Policy, n: int = 1, *, automatic: bool = False, service: str = "usip") -> None:
    clock = SystemClock()
    with UnitOfWork(session_factory(engine), clock=clock, channel="api", actor="admin") as s:
        if users.by_handle(s, "admin") is None:
            users.create_user(s, now=clock.now(), handle="admin", role="admin")
        for _ in range(n):
            data = IncidentCreate(services=[service], priority="P1", severity="SEV-1", commander="admin")
            incidents.declare(s, policy=policy, now=clock.now(), actor="admin", data=data, automatic=automatic)


def test_a_commit_wakes_an_idle_worker_of_the_process_at_once(
    engine: Engine, db_url: str, receiver: WebhookReceiver
) -> None:
    policy = parse_policy(yaml.safe_dump(hook_policy(receiver.url)), "p")
    stop = threading.Event()
    w = Worker(
        session_factory(engine),
        settings=Settings(database_url=db_url),
        policy=policy,
        clock=SystemClock(),
        jobs=JOBS,
        hooks=HOOKS,
        stop=stop,
    )
    entered, idle = threading.Event(), w.idle

    def watched(seconds: float) -> bool:
        entered.set()
        return idle(seconds)

    w.idle = watched  # type: ignore[method-assign]
    thread = threading.Thread(target=w.run, daemon=True)
    thread.start()
    try:
        assert entered.wait(10)  # idle: its first pass is over, it waits out its 30-second poll
        started = time.monotonic()
        declare(engine, policy)
        assert receiver.wait_for(lambda calls: len(calls) == 1, timeout=10)
        assert time.monotonic() - started < 2.0
    finally:
        stop.set()
        thread.join(timeout=10)
    assert not thread.is_alive()


@pytest.mark.postgres
@pytest.mark.slow
@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)  # LISTEN/NOTIFY is PostgreSQL's; SQLite polls
def test_a_commit_in_another_process_wakes_a_postgres_worker(
    engine: Engine, db_url: str, receiver: WebhookReceiver, tmp_path: Path
) -> None:
    data = hook_policy(receiver.url)
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(data))
    proc = worker_proc(env_for(db_url, WARROOM_POLICY=str(path)), tmp_path / "worker.log").start()
    try:
        deadline = time.monotonic() + 30
        with session_factory(engine)() as s:
            while not s.scalar(select(func.count()).select_from(WorkerHeartbeat)):
                assert time.monotonic() < deadline and proc.alive, proc.log()
                time.sleep(0.2)
                s.rollback()
        time.sleep(1.0)  # its first pass is over: idle on a 30-second poll
        timings = []
        for _ in range(3):
            started = time.monotonic()
            declare(engine, parse_policy(yaml.safe_dump(data), "p"))
            count = len(receiver.calls) + 1
            assert receiver.wait_for(lambda calls, count=count: len(calls) >= count, timeout=10), proc.log()
            timings.append(time.monotonic() - started)
        assert max(timings) < 2.0, timings
    finally:
        proc.stop()


@pytest.mark.postgres
@pytest.mark.slow
@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)  # several worker processes share one PostgreSQL
def test_two_worker_processes_never_page_a_level_twice(engine: Engine, db_url: str, tmp_path: Path) -> None:
    with PagerDutyApi() as pd:
        data = example_data()
        data["channels"] = {"pd": {"type": "pagerduty", "routing_key": KEY}}
        data["routes"] = {"page": ["pd"]}
        data["escalation_policies"] = {
            "identity": {
                "levels": [
                    {"users": ["admin"], "ack_timeout": "1s"},
                    {"users": ["admin"], "ack_timeout": "1s"},
                    {"users": ["admin"], "ack_timeout": "1s"},
                ]
            }
        }
        data["worker"] = {"poll_interval": "100ms", "heartbeat_every": "1s"}
        data["notifications"] = {**data.get("notifications", {}), "concurrency": 4}
        path = tmp_path / "policy.yaml"
        path.write_text(yaml.safe_dump(data))
        env = env_for(db_url, WARROOM_POLICY=str(path), WARROOM_PAGERDUTY_EVENTS_URL=pd.base)
        procs = [worker_proc(env, tmp_path / f"worker{i}.log").start() for i in range(2)]
        try:
            declare(engine, parse_policy(yaml.safe_dump(data), "p"), 12, automatic=True, service="sis")
            expected = 12 * 3
            assert pd.wait_for(lambda calls: len(pd.events) >= expected, timeout=40), procs[0].log()[-2000:]
            time.sleep(2.5)  # would a second page of some level still come?
        finally:
            for p in procs:
                p.stop()
        keys = [(e["dedup_key"], e["payload"]["custom_details"]["level"]) for e in pd.events]
        assert len(keys) == expected and len(set(keys)) == expected
        with session_factory(engine)() as s:
            per_incident = s.execute(
                select(EscalationPage.incident_id, func.count()).group_by(EscalationPage.incident_id)
            )
            assert sorted(n for _, n in per_incident) == [3] * 12
        assert all("Traceback" not in p.log() for p in procs), [p.log()[-2000:] for p in procs]


def test_outbox_rows_mark_the_transaction_and_a_rollback_wakes_nobody(engine: Engine) -> None:
    from warroom.core import wake

    waiter = wake.subscribe()
    policy = parse_policy(yaml.safe_dump(hook_policy("http://127.0.0.1:9/")), "p")
    sessions = session_factory(engine)
    with sessions() as s:
        outbox.enqueue(s, policy=policy, now=SystemClock().now(), event="declared", text="x")
        s.rollback()
    assert not waiter.is_set()
    with sessions.begin() as s:
        outbox.enqueue(s, policy=policy, now=SystemClock().now(), event="declared", text="x")
        assert not waiter.is_set()  # not before the commit
    assert waiter.is_set()
