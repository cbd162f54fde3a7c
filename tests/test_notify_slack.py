"""Slack delivery end to end: real API calls over loopback, a local Slack Web API server, both databases."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select

from tests.support.http_fakes import Fault, SlackApiServer
from tests.support.notify import make_policy, slack_channels, worker
from tests.support.server import Running
from warroom.core.clock import FakeClock
from warroom.notifications.models import Notification, SlackThread
from warroom.policy import Policy


@pytest.fixture
def slack() -> Iterator[SlackApiServer]:
    with SlackApiServer() as server:
        yield server


@pytest.fixture
def policy() -> Policy:
    return make_policy(channels=slack_channels())


def _rows(server: Running) -> list[Notification]:
    with server.state.sessions() as s:
        return list(s.scalars(select(Notification).order_by(Notification.id)))


def _declare(server: Running, **kw: object) -> str:
    with server.admin() as c:
        r = c.post(
            "/api/v1/incidents",
            json={"services": ["sis"], "priority": "P1", "severity": "SEV-2", "title": "Sign-in failing", **kw},
        )
        assert r.status_code == 201, r.text
        return str(r.json()["id"])


def test_lifecycle_messages_go_to_the_right_channel_threaded(
    server: Running, slack: SlackApiServer, clock: FakeClock, db_url: str
) -> None:
    w = worker(server.state.sessions, server.state.policy, clock, db_url, slack=slack)
    ref = _declare(server)
    assert w.drain() == 1
    with server.admin() as c:
        assert c.post(f"/api/v1/incidents/{ref}/updates", json={"message": "Rolled back 1.2.3"}).status_code == 201
        assert (
            c.patch(
                f"/api/v1/incidents/{ref}",
                json={
                    "severity": "SEV-1",
                    "users_impacted": 5000,
                    "impacts": "Nobody could sign in",
                    "detection_method": "alert",
                },
            ).status_code
            == 200
        )
        assert c.post(f"/api/v1/incidents/{ref}/transitions", json={"to": "stable"}).status_code == 200
        clock.advance(600)
        assert c.post(f"/api/v1/incidents/{ref}/transitions", json={"to": "resolved"}).status_code == 200
    w.drain()
    with server.admin() as c:
        pm = c.get(f"/api/v1/incidents/{ref}/postmortem").json()
        assert "## Status update cadence" in pm["markdown"]  # our section provider
        r = c.put(f"/api/v1/incidents/{ref}/postmortem", json={"markdown": pm["markdown"].replace("TODO", "done")})
        assert r.status_code == 200, r.text
        r = c.post(f"/api/v1/incidents/{ref}/transitions", json={"to": "completed"})
        assert r.status_code == 200, r.text
    w.drain()

    support = slack.posts("#support")
    texts = [p["text"] for p in support]
    assert len(support) == 5, texts
    assert texts[0].startswith(":rotating_light: Incident declared: INC-1 [P1 SEV-2 active] Sign-in failing")
    assert "Rolled back 1.2.3" in texts[1] and "status update from admin" in texts[1]
    assert "severity changed SEV-2 -&gt; SEV-1" in texts[2]  # mrkdwn: ">" is escaped
    assert "state changed active -&gt; stable" in texts[3]
    assert texts[4].startswith(":white_check_mark: INC-1 resolved by admin after 10m")
    assert "Postmortem: http" in texts[4] and texts[4].rstrip().endswith("/incidents/INC-1/postmortem")
    root = support[0]
    assert "thread_ts" not in root
    assert all(p["thread_ts"] == root["ts"] for p in support[1:])
    assert root["blocks"][0]["type"] == "header" and root["metadata"]["event_payload"]["idempotency_key"]
    # the first message is the live card, kept current with chat.update (the last edit: completed, no buttons)
    assert slack.updates() and {u["ts"] for u in slack.updates()} == {root["ts"]}
    assert "completed" in slack.updates()[-1]["text"]
    assert not [b for b in slack.updates()[-1]["blocks"] if b["type"] == "actions"]
    leaders = slack.posts("#leaders")
    assert len(leaders) == 1 and leaders[0]["text"].startswith("INC-1 completed by admin")
    assert "thread_ts" not in leaders[0]  # first message of the incident in that channel
    rows = [r for r in _rows(server) if r.event != "card"]  # card edits: sent, or dropped for a newer one
    assert {r.state for r in rows} == {"sent"} and len(rows) == 6
    assert [r.external_id for r in rows if r.channel == "support"] == [p["ts"] for p in support]
    assert {r.state for r in _rows(server) if r.event == "card"} <= {"sent", "obsolete"}
    with server.state.sessions() as s:
        threads = s.scalars(select(SlackThread).order_by(SlackThread.channel)).all()
        assert [(t.channel, t.ts) for t in threads] == [("leadership", leaders[0]["ts"]), ("support", root["ts"])]


def test_429_retry_after_is_honoured(server: Running, slack: SlackApiServer, clock: FakeClock, db_url: str) -> None:
    w = worker(server.state.sessions, server.state.policy, clock, db_url, slack=slack)
    slack.fail_next(Fault.rate_limited(retry_after=7))
    _declare(server)
    w.drain()
    (row,) = _rows(server)
    assert row.state == "pending" and row.attempts == 1 and "rate_limited" in (row.last_error or "")
    assert row.next_attempt_at >= clock.now() + timedelta(seconds=7)  # backoff alone would be 1s
    clock.advance(6)
    assert w.drain() == 0 and slack.posts() == []
    clock.advance(1.5)
    assert w.drain() == 1
    assert len(slack.posts()) == 1 and _rows(server)[0].state == "sent"


def test_5xx_timeouts_and_transient_errors_retry_to_success(
    server: Running, slack: SlackApiServer, clock: FakeClock, db_url: str
) -> None:
    w = worker(server.state.sessions, server.state.policy, clock, db_url, slack=slack)
    slack.fail_next(Fault.http(503), Fault.slow(2.5), Fault.slack("fatal_error"))  # timeout is 1s
    _declare(server)
    errors = []
    for _ in range(4):
        w.drain()
        row = _rows(server)[0]
        errors.append(row.last_error)
        clock.advance(30)
    assert row.state == "sent" and row.attempts == 4, errors
    assert "HTTP 503" in errors[0] and "connection" in errors[1].lower() and "fatal_error" in errors[2]
    assert len(slack.posts()) == 1


def test_backoff_grows_exponentially(server: Running, slack: SlackApiServer, clock: FakeClock, db_url: str) -> None:
    w = worker(server.state.sessions, server.state.policy, clock, db_url, slack=slack)
    slack.fail_always(Fault.http(500))
    _declare(server)
    waits = []
    for _ in range(4):
        w.drain()
        row = _rows(server)[0]
        waits.append((row.next_attempt_at - clock.now()).total_seconds())
        clock.set(row.next_attempt_at)
    assert waits == [1, 2, 4, 8]  # jitter 0 in tests; base 1s
    w.drain()
    row = _rows(server)[0]
    assert row.state == "dead" and row.last_error.startswith("gave up after 5 attempts in ")
    assert ": HTTP 500" in row.last_error


def test_permanent_error_dead_at_once_then_retried_by_hand(
    server: Running, slack: SlackApiServer, clock: FakeClock, db_url: str
) -> None:
    w = worker(server.state.sessions, server.state.policy, clock, db_url, slack=slack)
    slack.channel_errors["#support"] = "channel_not_found"
    _declare(server)
    w.drain()
    (row,) = _rows(server)
    assert row.state == "dead" and row.attempts == 1 and row.last_error == "permanent: channel_not_found"
    with server.admin() as c:
        dead = c.get("/api/v1/notifications", params={"state": "dead"}).json()
        assert dead["total"] == 1 and dead["items"][0]["last_error"] == "permanent: channel_not_found"
        health = c.get("/healthz").json()
        assert health["checks"]["notifications_dead"] == 1 and "dead notification" in health["warnings"][-1]
        del slack.channel_errors["#support"]
        r = c.post(f"/api/v1/notifications/{row.id}/retry")
        assert r.status_code == 200 and r.json()["state"] == "pending"
    w.drain()
    assert _rows(server)[0].state == "sent" and len(slack.posts()) == 1
    with server.admin() as c:
        assert c.post(f"/api/v1/notifications/{row.id}/retry").status_code == 409
        assert c.post("/api/v1/notifications/999/retry").status_code == 404
        assert c.get("/api/v1/notifications", params={"state": "dead"}).json()["total"] == 0


def test_bad_token_is_permanent(server: Running, slack: SlackApiServer, clock: FakeClock, db_url: str) -> None:
    slack.token = "xoxb-other"
    w = worker(server.state.sessions, server.state.policy, clock, db_url, slack=slack)
    _declare(server)
    w.drain()
    assert _rows(server)[0].last_error == "permanent: invalid_auth"


def test_messages_of_one_incident_stay_in_order_through_retries(
    server: Running, slack: SlackApiServer, clock: FakeClock, db_url: str
) -> None:
    serial = make_policy(channels=slack_channels(), notifications={"concurrency": 1})  # so the 500 hits INC-1
    w = worker(server.state.sessions, serial, clock, db_url, slack=slack)
    ref = _declare(server)
    with server.admin() as c:
        for i in range(3):
            c.post(f"/api/v1/incidents/{ref}/updates", json={"message": f"update {i}"})
    other = _declare(server, title="Other")
    slack.fail_next(Fault.http(500))  # the declaration of INC-1 fails once
    w.drain()
    # INC-1's later messages wait for its declaration; INC-2 is not held up
    (only,) = slack.posts()
    assert f"Incident declared: {other}" in only["text"]
    clock.advance(5)
    w.drain()
    texts = [p["text"] for p in slack.posts()]
    assert "INC-1" in texts[1] and "declared" in texts[1]
    order = [t.split("\n")[1] for t in texts[2:]]
    assert order == ["update 0", "update 1", "update 2"]


def test_slack_pacing_one_message_per_second_per_channel(
    server: Running, slack: SlackApiServer, clock: FakeClock, db_url: str
) -> None:
    paced = make_policy(channels=slack_channels(), notifications={"slack_pace": "1s"})
    w = worker(server.state.sessions, paced, clock, db_url, slack=slack)
    for i in range(3):
        _declare(server, title=f"paced {i}")
    assert w.drain() == 1
    assert w.drain() == 0  # same instant: the channel's slot is taken
    clock.advance(0.5)
    assert w.drain() == 0
    clock.advance(0.5)
    assert w.drain() == 1
    clock.advance(1)
    assert w.drain() == 1
    assert len(slack.posts()) == 3


def test_a_paced_backlog_does_not_hold_up_other_channels(
    server: Running, slack: SlackApiServer, clock: FakeClock, db_url: str
) -> None:
    paced = make_policy(
        channels=slack_channels(),
        notifications={"slack_pace": "1s", "batch": 3},
        routes={"declared": ["support"], "completed": ["leadership"]},
    )
    w = worker(server.state.sessions, paced, clock, db_url, slack=slack)
    for i in range(5):
        _declare(server, title=f"backlog {i}")

    from warroom.notifications import service as outbox

    with server.state.sessions.begin() as s:
        outbox.enqueue(s, policy=paced, now=clock.now(), event="completed", text="to leadership")
    w.drain()
    assert sorted(p["channel"] for p in slack.posts()) == ["#leaders", "#support"]
