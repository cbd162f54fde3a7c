"""An incident's own Slack channel (policy `slack.incident_channels`, off by default): made for the
chosen priorities, the commander and on-call invited, topic and bookmark set, the card posted and
kept current there too, archived on completion."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from tests.support.incidents import finish_postmortem
from tests.support.notify import make_policy, slack_channels, worker
from tests.support.slack_app import SlackRig, slack_rig
from warroom.core.clock import FakeClock
from warroom.policy import Policy
from warroom.worker import Worker


@pytest.fixture
def policy() -> Policy:
    return make_policy(channels=slack_channels(), slack={"incident_channels": {"priorities": ["P1"]}})


@pytest.fixture
def rig(engine: Engine, db_url: str, policy: Policy, clock: FakeClock) -> Iterator[SlackRig]:
    with slack_rig(engine, db_url, policy, clock) as r:
        r.user("alice", "UALICE")
        yield r


@pytest.fixture
def w(rig: SlackRig, policy: Policy, clock: FakeClock, db_url: str) -> Worker:
    return worker(rig.server.state.sessions, policy, clock, db_url, slack=rig.api)


def _declare(rig: SlackRig, priority: str, title: str = "SiS login degraded") -> str:
    with rig.server.admin() as c:
        body = {"services": ["sis"], "priority": priority, "severity": "SEV-2", "commander": "alice", "title": title}
        r = c.post("/api/v1/incidents", json=body)
        assert r.status_code == 201, r.text
        return str(r.json()["id"])


def _args(rig: SlackRig, method: str) -> list[dict[str, Any]]:
    return [c.data for c in rig.api.calls_to(method) if c.ok]


def test_a_p1_gets_its_own_channel_with_the_card_kept_current_and_archived(rig: SlackRig, w: Worker) -> None:
    ref = _declare(rig, "P1")
    w.drain()
    [made] = _args(rig, "conversations.create")
    assert made["name"] == "inc-1-sis-login-degraded"
    room_id = [c.response for c in rig.api.calls_to("conversations.create")][0]["channel"]["id"]
    [invite] = _args(rig, "conversations.invite")
    assert invite["channel"] == room_id and "UALICE" in invite["users"].split(",")
    [topic] = _args(rig, "conversations.setTopic")
    assert topic["topic"].startswith(f"{ref} P1 SEV-2")
    [mark] = _args(rig, "bookmarks.add")
    assert mark["link"].endswith(f"/incidents/{ref}") and mark["channel_id"] == room_id
    [room_card] = [p for p in rig.api.posts() if p["channel"] == room_id]
    assert room_card["blocks"][0]["type"] == "header"
    # a change edits both cards: the thread's in #support and the room's
    assert rig.slack.click("UALICE", "card_stable", ref).status_code == 200
    w.drain()
    edited = {(u["channel"], u["ts"]) for u in rig.api.updates() if "stable" in u["text"]}
    assert (room_id, room_card["ts"]) in edited and len(edited) == 2
    # completed: archived
    with rig.server.admin() as c:
        body = {"users_impacted": 10, "impacts": "slow", "detection_method": "alert"}
        assert c.patch(f"/api/v1/incidents/{ref}", json=body).status_code == 200
        token = c.post("/api/v1/tokens", json={"user": "alice"}).json()["token"]
    assert rig.slack.click("UALICE", "card_resolve", ref).status_code == 200
    with rig.server.client(token) as c:
        finish_postmortem(c, ref)
        assert c.post(f"/api/v1/incidents/{ref}/transitions", json={"to": "completed"}).status_code == 200
    w.drain()
    assert _args(rig, "conversations.archive") == [{"channel": room_id}]


def test_other_priorities_stay_in_the_thread_and_a_taken_name_gets_a_suffix(rig: SlackRig, w: Worker) -> None:
    _declare(rig, "P2")
    w.drain()
    assert not rig.api.calls_to("conversations.create")
    rig.api.names["CTAKEN"] = "inc-2-sis-login-degraded"  # a namesake exists already
    _declare(rig, "P1")
    w.drain()
    assert [c.data["name"] for c in rig.api.calls_to("conversations.create")] == [
        "inc-2-sis-login-degraded",
        "inc-2-sis-login-degraded-2",
    ]


@pytest.mark.parametrize("policy", [make_policy(channels=slack_channels())])
def test_off_by_default(rig: SlackRig, w: Worker) -> None:
    _declare(rig, "P1")
    w.drain()
    assert not rig.api.calls_to("conversations.create")
