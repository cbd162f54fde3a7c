"""A Slack outage loses nothing (issue 18 item 8): the fake Slack answers 500s and timeouts for a few
fake-clock minutes; messages are retried for `notifications.retry_for`, the declaration stays the
thread's first message, the failing channel shows on /healthz, /metrics and the web pages, and
relative times are never written ahead of delivery. Both databases."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.conftest import T0
from tests.support.http_fakes import Fault, SlackApiServer
from tests.support.notify import policy_raw, slack_channels, worker
from tests.support.server import Running
from tests.support.web import login, make_web_user
from warroom.core.clock import FakeClock
from warroom.notifications.models import Notification
from warroom.policy import Policy


@pytest.fixture
def slack() -> Iterator[SlackApiServer]:
    with SlackApiServer() as server:
        yield server


def _policy(**notifications: Any) -> Policy:
    """The reference delivery settings (no attempt cap, 2s doubling to 2m), quick timeouts, no pace."""
    raw = policy_raw(channels=slack_channels(), cadence={"backup_contact": None})
    raw["notifications"] = {"timeout": "1s", "lease": "5s", "slack_pace": "0s", "jitter": 0, **notifications}
    return Policy.model_validate(raw)


@pytest.fixture
def policy() -> Policy:
    return _policy()


def _next_attempt(server: Running) -> Any:
    with server.state.sessions() as s:
        return s.scalar(select(func.min(Notification.next_attempt_at)).where(Notification.state == "pending"))


def _health(server: Running) -> dict[str, Any]:
    with server.admin() as c:
        body: dict[str, Any] = c.get("/healthz").json()
        return body


def _metric(server: Running, name: str) -> str:
    with server.admin() as c:
        lines = [line for line in c.get("/metrics").text.splitlines() if line.startswith(name + "{")]
        return "\n".join(lines)


def test_a_five_minute_slack_outage_loses_nothing_and_shows(
    server: Running, slack: SlackApiServer, clock: FakeClock, db_url: str
) -> None:
    w = worker(server.state.sessions, server.state.policy, clock, db_url, slack=slack)
    make_web_user(server, "alice")
    web, _ = login(server, "alice")
    slack.fail_next(Fault.slow(1.5), Fault.hang_up(1.5))  # two timeouts, then 500s
    slack.fail_always(Fault.http(500))
    with server.admin() as c:
        r = c.post("/api/v1/incidents", json={"services": ["sis"], "priority": "P1", "severity": "SEV-1"})
        ref = r.json()["id"]
    attempts = 0
    while clock.now() < T0 + timedelta(minutes=5):
        attempts += w.drain()
        nxt = _next_attempt(server)
        assert nxt is not None, f"nothing left to retry after {attempts} attempts: the declaration went dead"
        clock.set(max(nxt, clock.now()))
    assert attempts >= 8 and slack.posts() == []  # the old policy gave up after 8 attempts (~4 minutes)
    with server.state.sessions() as s:
        (row,) = s.scalars(select(Notification)).all()
        assert row.state == "pending" and row.event == "declared" and "HTTP 500" in (row.last_error or "")
        assert row.next_attempt_at - clock.now() <= timedelta(minutes=2)  # capped backoff
    health = _health(server)
    assert health["status"] == "degraded", health
    assert health["checks"]["notification_channels_failing"]["support"]["retrying"] == 1
    assert any("channel 'support' is failing" in w for w in health["warnings"])
    assert 'warroom_notification_channel_failing{channel="support"} 1.0' in _metric(
        server, "warroom_notification_channel_failing"
    )
    for url in ("/", f"/incidents/{ref}"):
        page = web.get(url).text
        assert 'id="channel-banner"' in page and "Notifications are not getting through" in page, url
        assert 'data-channel="support"' in page and "HTTP 500" in page
    slack.clear()  # Slack is back
    clock.set(_next_attempt(server))
    w.drain()
    (posted,) = slack.posts("#support")
    assert posted["text"].startswith(":rotating_light: Incident declared: INC-1 [P1 SEV-1 active]")
    health = _health(server)
    assert health["status"] == "ok" and health["checks"]["notification_channels_failing"] == {}, health
    assert _metric(server, "warroom_notification_channel_failing") == ""
    assert 'id="channel-banner"' not in web.get("/").text


def test_later_messages_wait_for_the_thread_root_and_times_are_not_stale(
    server: Running, slack: SlackApiServer, clock: FakeClock, db_url: str, make_user
) -> None:  # type: ignore[no-untyped-def]
    """Even when the declaration went dead, the reminder never becomes the thread's first message:
    it waits until the declaration is retried (by hand) and sent."""
    server.state.policy = pol = _policy(retry_for="3m")
    alice = make_user("alice", slack_id="U0ALICE")
    w = worker(server.state.sessions, pol, clock, db_url, slack=slack)
    slack.fail_always(Fault.http(503))
    with server.client(alice) as c:
        ref = c.post("/api/v1/incidents", json={"services": ["sis"], "priority": "P1", "severity": "SEV-1"}).json()[
            "id"
        ]
    while clock.now() < T0 + timedelta(minutes=26):  # the declaration dies after 3m; the reminder is due at 25m
        w.drain()
        nxt = _next_attempt(server)
        clock.set(max(nxt, clock.now()) if nxt and nxt < T0 + timedelta(minutes=26) else T0 + timedelta(minutes=26))
    w.drain()
    slack.clear()
    clock.advance(180)  # Slack back; the reminder's own retry is due; three minutes late
    w.drain()
    assert slack.posts() == [], "the reminder must not start the thread"
    with server.admin() as c:
        dead = c.get("/api/v1/notifications", params={"state": "dead"}).json()["items"]
        assert [d["event"] for d in dead] == ["declared"] and "gave up after" in dead[0]["last_error"]
        assert _health(server)["checks"]["notification_channels_failing"]["support"]["dead"] == 1
        assert c.post(f"/api/v1/notifications/{dead[0]['id']}/retry").status_code == 200
    w.drain()
    declared, reminder = slack.posts("#support")
    assert declared["text"].startswith(":rotating_light: Incident declared") and "thread_ts" not in declared
    assert reminder["thread_ts"] == declared["ts"]
    assert "due at 09:30 UTC" in reminder["text"] and "(in " not in reminder["text"]  # no stale "in 5m"
    clock.set(T0 + timedelta(minutes=31))
    w.drain()
    auto = next(p["text"] for p in slack.posts("#support") if "automatic status update" in p["text"])
    assert " ago" not in auto and "No changes recorded since 09:00 UTC." in auto, auto
    assert ref == "INC-1"
