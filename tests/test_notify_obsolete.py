"""A reminder or automatic update queued before the incident was resolved is dropped as `obsolete`,
never posted late (issue 18 item 10); both databases, the fake Slack down and back."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from tests.conftest import T0
from tests.support import cli
from tests.support.http_fakes import Fault, SlackApiServer
from tests.support.notify import make_policy, slack_channels, worker
from tests.support.server import Running
from warroom.core.clock import FakeClock
from warroom.policy import Policy


@pytest.fixture
def slack() -> Iterator[SlackApiServer]:
    with SlackApiServer() as server:
        yield server


@pytest.fixture
def policy() -> Policy:
    return make_policy(channels=slack_channels())


def _rows(server: Running, state: str) -> list[dict[str, object]]:
    with server.admin() as c:
        r = c.get("/api/v1/notifications", params={"state": state})
        assert r.status_code == 200, r.text
        items: list[dict[str, object]] = r.json()["items"]
        return items


def test_queued_reminders_and_automatic_updates_are_dropped_once_resolved(
    server: Running, slack: SlackApiServer, clock: FakeClock, db_url: str
) -> None:
    w = worker(server.state.sessions, server.state.policy, clock, db_url, slack=slack)
    with server.admin() as c:
        ref = c.post("/api/v1/incidents", json={"services": ["sis"], "priority": "P1", "severity": "SEV-2"}).json()[
            "id"
        ]
    w.drain()
    slack.fail_always(Fault.http(500))
    clock.set(T0 + timedelta(minutes=25))
    w.drain()  # the reminder fails and waits for its retry
    clock.set(T0 + timedelta(minutes=30))
    w.drain()  # the automatic update and the "missed" ping queue behind it
    assert {r["event"] for r in _rows(server, "pending")} == {"reminder", "update", "card"}
    with server.admin() as c:
        assert c.post(f"/api/v1/incidents/{ref}/transitions", json={"to": "stable"}).status_code == 200
        assert c.post(f"/api/v1/incidents/{ref}/transitions", json={"to": "resolved"}).status_code == 200
    slack.clear()
    clock.advance(3600)
    w.drain()
    texts = [p["text"] for p in slack.posts("#support")]
    assert not any("status update" in t for t in texts[1:]), texts  # no reminder, no automatic update
    assert any("resolved" in t for t in texts[1:]), texts
    dropped = [r for r in _rows(server, "obsolete") if r["event"] != "card"]  # older card edits: a newer one shows all
    assert sorted(str(r["event"]) for r in dropped) == ["reminder", "reminder", "update"]
    assert all(f"{ref} was resolved" in str(r["last_error"]) for r in dropped)
    out = cli.ok("notifications", "list", "--state", "obsolete", env={"WARROOM_DATABASE_URL": db_url})
    assert "obsolete notification(s)" in out and "reminder" in out


def test_a_human_update_drops_the_queued_reminder_for_it(
    server: Running, slack: SlackApiServer, clock: FakeClock, db_url: str
) -> None:
    w = worker(server.state.sessions, server.state.policy, clock, db_url, slack=slack)
    with server.admin() as c:
        ref = c.post("/api/v1/incidents", json={"services": ["sis"], "priority": "P1", "severity": "SEV-2"}).json()[
            "id"
        ]
        w.drain()
        slack.fail_next(Fault.http(503))
        clock.set(T0 + timedelta(minutes=25))
        w.drain()  # the reminder failed once
        assert c.post(f"/api/v1/incidents/{ref}/updates", json={"message": "Rolled back"}).status_code == 201
    clock.advance(120)
    w.drain()
    texts = [p["text"] for p in slack.posts("#support")]
    assert len(texts) == 2 and "Rolled back" in texts[1], texts
    (dropped,) = _rows(server, "obsolete")
    assert dropped["event"] == "reminder" and "admin posted a status update" in str(dropped["last_error"])
