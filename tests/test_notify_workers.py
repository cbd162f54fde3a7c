"""Real worker processes: two on PostgreSQL share 500 notifications; a SIGKILLed one loses nothing."""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

from tests.support.http_fakes import Fault, SlackApiServer
from tests.support.notify import SLACK_TOKEN, policy_raw
from tests.support.procs import start_piped_worker, stop_procs
from warroom.core.clock import utcnow
from warroom.core.db import make_engine, session_factory
from warroom.incidents import service as incidents
from warroom.incidents.schemas import IncidentCreate
from warroom.notifications import service as outbox
from warroom.notifications.models import Notification
from warroom.policy import Policy
from warroom.scheduler.models import WorkerHeartbeat
from warroom.users import service as users


@pytest.fixture
def slack() -> Iterator[SlackApiServer]:
    with SlackApiServer() as server:
        yield server


def _setup(
    tmp_path: Path, db_url: str, slack: SlackApiServer, **notifications: object
) -> tuple[Policy, dict[str, str]]:
    raw = policy_raw(
        channels={"bulk": {"type": "slack", "channel": "#bulk"}},
        routes={"declared": ["bulk"], "update": ["bulk"]},
        notifications={"lease": "3s", "timeout": "10s", **notifications},
        worker={"poll_interval": "50ms", "heartbeat_every": "500ms"},
    )
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(raw))
    env = {
        **os.environ,
        "WARROOM_DATABASE_URL": db_url,
        "WARROOM_POLICY": str(path),
        "WARROOM_SLACK_TOKEN": SLACK_TOKEN,
        "WARROOM_SLACK_API_URL": slack.url,
        "WARROOM_LOG_LEVEL": "WARNING",
    }
    return Policy.model_validate(raw), env


def _rows(db_url: str) -> list[Notification]:
    eng = make_engine(db_url)
    try:
        with session_factory(eng)() as s:
            return list(s.scalars(select(Notification).order_by(Notification.id)))
    finally:
        eng.dispose()


def _wait_for_beats(db_url: str, n: int, timeout: float = 30) -> None:
    eng = make_engine(db_url)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with session_factory(eng)() as s:
                if len(s.scalars(select(WorkerHeartbeat.worker_id)).all()) >= n:
                    return
            time.sleep(0.1)
        raise AssertionError(f"{n} workers did not beat within {timeout}s")
    finally:
        eng.dispose()


def _declare(db_url: str, policy: Policy, n: int, updates: int) -> None:
    eng = make_engine(db_url)
    try:
        with session_factory(eng).begin() as s:
            users.by_handle(s, "bench") or users.create_user(s, now=utcnow(), handle="bench")  # commanders are users
            for i in range(n):
                inc = incidents.declare(
                    s,
                    policy=policy,
                    now=utcnow(),
                    actor="bench",
                    data=IncidentCreate(services=["sis"], priority="P3", severity="SEV-3", title=f"load {i}"),
                )
                for j in range(updates):
                    outbox.enqueue(
                        s,
                        policy=policy,
                        now=utcnow(),
                        event="update",
                        incident_id=inc.id,
                        text=f"{inc.ref} update {j}",
                        payload={"incident": inc.ref},
                    )
    finally:
        eng.dispose()


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_two_worker_processes_500_notifications_no_duplicate_no_loss(
    db_url: str, slack: SlackApiServer, tmp_path: Path
) -> None:
    policy, env = _setup(tmp_path, db_url, slack, slack_pace="0s")
    # Slack answers in 20 ms (it takes 100+ ms for real). With instant answers a fast machine lets one
    # worker finish each claimed batch before the other polls: each incident's next row is claimable
    # only once its previous one is sent, so the other worker found nothing and the check below failed.
    slack.fail_always(Fault.late_answer(0.02))
    workers = [start_piped_worker(env), start_piped_worker(env)]
    try:
        _wait_for_beats(db_url, 2)  # both polling before the rows exist: one worker alone can be done
        _declare(db_url, policy, n=50, updates=9)  # before the second one has started
        assert slack.wait_for(
            lambda calls: sum(c.ok and c.path.endswith("postMessage") for c in calls) >= 500, timeout=120
        )
        time.sleep(0.5)  # any duplicate would show up now
    finally:
        stop_procs(*workers)
    posts = slack.posts()
    keys = Counter(p["metadata"]["event_payload"]["idempotency_key"] for p in posts)
    assert len(posts) == 500 and len(keys) == 500 and max(keys.values()) == 1
    rows = _rows(db_url)
    assert len(rows) == 500 and {r.state for r in rows} == {"sent"}
    assert set(keys) == {r.idempotency_key for r in rows}
    assert all(r.attempts == 1 for r in rows)
    assert len({r.claimed_by for r in rows}) == 2  # both processes did work
    # per incident: declaration first, updates in order, all threaded under the declaration
    by_incident: dict[str, list[dict[str, object]]] = {}
    for p in posts:
        ref = str(p["text"]).split("INC-")[1].split()[0]
        by_incident.setdefault(ref, []).append(p)
    assert len(by_incident) == 50
    for msgs in by_incident.values():
        assert "Incident declared" in str(msgs[0]["text"]) and "thread_ts" not in msgs[0]
        assert [str(m["text"]).split("update ")[1] for m in msgs[1:]] == [str(j) for j in range(9)]
        assert {m["thread_ts"] for m in msgs[1:]} == {msgs[0]["ts"]}


def test_sigkilled_worker_row_is_delivered_after_lease(db_url: str, slack: SlackApiServer, tmp_path: Path) -> None:
    policy, env = _setup(tmp_path, db_url, slack, slack_pace="0s", timeout="20s")
    slack.fail_next(Fault.hang_up(30))  # the first worker's request never gets an answer
    _declare(db_url, policy, n=1, updates=0)
    first = start_piped_worker(env)
    try:
        assert slack.wait_for(lambda calls: len(calls) == 1, timeout=20)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    finally:
        stop_procs(first)
    (row,) = _rows(db_url)
    assert row.state == "pending" and row.attempts == 1 and row.lease_until is not None
    killed_id, lease_until = row.claimed_by, row.lease_until
    second = start_piped_worker(env)
    try:
        assert slack.wait_for(lambda calls: any(c.ok for c in calls), timeout=20)
        deadline = time.monotonic() + 10
        while _rows(db_url)[0].state != "sent" and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        stop_procs(second)
    (row,) = _rows(db_url)
    assert row.state == "sent" and row.attempts == 2 and row.claimed_by != killed_id
    assert row.sent_at is not None and row.sent_at >= lease_until  # not before the dead worker's lease ran out
    (post,) = slack.posts()
    assert post["metadata"]["event_payload"]["idempotency_key"] == row.idempotency_key
    assert slack.calls[0].fault is not None and slack.calls[0].fault.hang
