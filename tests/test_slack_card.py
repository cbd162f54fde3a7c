"""The live incident card: the first message, edited in place (chat.update) on every change of
state, priority, severity, commander and next due time; its buttons; Slack API errors on edits."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine

from tests.support.alerts import accepted, dd, ingest_token
from tests.support.http_fakes import Fault
from tests.support.incidents import finish_postmortem
from tests.support.notify import make_policy, slack_channels, worker
from tests.support.slack_app import SlackRig, card_fields, slack_rig
from warroom.core.clock import FakeClock
from warroom.notifications.card import CARD_EVENT
from warroom.notifications.models import Notification
from warroom.policy import Policy
from warroom.worker import Worker


@pytest.fixture
def policy() -> Policy:
    return make_policy(channels=slack_channels())


@pytest.fixture
def rig(engine: Engine, db_url: str, policy: Policy, clock: FakeClock) -> Iterator[SlackRig]:
    with slack_rig(engine, db_url, policy, clock) as r:
        r.user("alice", "UALICE")
        r.user("bob", "UBOB")
        yield r


@pytest.fixture
def w(rig: SlackRig, policy: Policy, clock: FakeClock, db_url: str) -> Worker:
    return worker(rig.server.state.sessions, policy, clock, db_url, slack=rig.api)


def _buttons(blocks: list[dict[str, Any]]) -> list[str]:
    return [e["text"]["text"] for b in blocks if b["type"] == "actions" for e in b["elements"]]


def _declare(rig: SlackRig, w: Worker) -> tuple[str, dict[str, Any]]:
    with rig.server.admin() as c:
        r = c.post(
            "/api/v1/incidents",
            json={
                "services": ["sis"],
                "priority": "P2",
                "severity": "SEV-3",
                "commander": "alice",
                "title": "<!here> SiS",
            },
        )
        assert r.status_code == 201, r.text
    w.drain()
    [root] = rig.api.posts("#support")
    return str(r.json()["id"]), root


def _last_card(rig: SlackRig) -> dict[str, Any]:
    return rig.api.updates()[-1]


def test_the_first_message_is_the_card(rig: SlackRig, w: Worker) -> None:
    ref, root = _declare(rig, w)
    header = root["blocks"][0]
    assert header["type"] == "header" and header["text"]["text"] == f"{ref} &lt;!here&gt; SiS"
    fields = card_fields(root["blocks"])
    assert fields["State"] == "active" and fields["Priority"] == "P2" and fields["Severity"] == "SEV-3"
    assert fields["Commander"] == "<@UALICE>"  # a real mention
    assert fields["Services"] == "Sign-in service"
    assert fields["Next update due"].startswith("<!date^")
    assert f"/incidents/{ref}|open in warroom>" in fields["Link"]
    # a person declared it, so it is acknowledged already
    assert _buttons(root["blocks"]) == ["Post update", "Mark stable", "Resolve", "Take command"]


def test_every_change_edits_the_card_in_place(rig: SlackRig, w: Worker, clock: FakeClock) -> None:
    ref, root = _declare(rig, w)
    seen = 0

    def edited() -> dict[str, str]:
        nonlocal seen
        w.drain()
        updates = rig.api.updates()
        assert len(updates) > seen, "no chat.update"
        seen = len(updates)
        assert {u["ts"] for u in updates} == {root["ts"]} and {u["channel"] for u in updates} == {root["channel_id"]}
        return card_fields(updates[-1]["blocks"])

    with rig.server.admin() as c:
        assert c.patch(f"/api/v1/incidents/{ref}", json={"priority": "P1"}).status_code == 200
        assert edited()["Priority"] == "P1"
        assert c.patch(f"/api/v1/incidents/{ref}", json={"severity": "SEV-1"}).status_code == 200
        assert edited()["Severity"] == "SEV-1"
    due_before = card_fields(_last_card(rig)["blocks"])["Next update due"]
    clock.advance(timedelta(minutes=3))
    assert rig.slack.slash("UBOB", f"update {ref} still digging").status_code == 200
    assert edited()["Next update due"] != due_before
    assert rig.slack.click("UBOB", "card_take", ref).status_code == 200
    assert edited()["Commander"] == "<@UBOB>"
    assert rig.slack.click("UBOB", "card_stable", ref).status_code == 200
    fields = edited()
    assert fields["State"] == "stable"
    assert _buttons(_last_card(rig)["blocks"]) == ["Post update", "Resolve", "Take command"]
    assert rig.slack.click("UBOB", "card_resolve", ref).status_code == 200
    assert edited()["State"] == "resolved"
    assert card_fields(_last_card(rig)["blocks"])["Next update due"].startswith("none")
    assert _buttons(_last_card(rig)["blocks"]) == ["Post update", "Complete", "Take command"]
    # the thread's replies go on under the card
    assert all(p.get("thread_ts") == root["ts"] for p in rig.api.posts("#support")[1:])


@pytest.mark.parametrize("policy", [make_policy(channels=slack_channels(), cadence={"auto_update": False})])
def test_a_missed_update_moves_the_cards_next_due_time(rig: SlackRig, w: Worker, clock: FakeClock) -> None:
    """With no automatic update, a missed one moves the due time: the card must show the new one."""
    _declare(rig, w)
    due_before = card_fields(rig.api.posts("#support")[0]["blocks"])["Next update due"]
    clock.advance(timedelta(minutes=31))
    w.drain()
    assert any(p["text"].startswith(":warning:") for p in rig.api.posts("#support"))  # the missed reminder
    due_after = card_fields(_last_card(rig)["blocks"])["Next update due"]
    assert due_after.startswith("<!date^") and due_after != due_before


def test_reminders_carry_the_post_update_button(rig: SlackRig, w: Worker, clock: FakeClock) -> None:
    ref, _ = _declare(rig, w)
    clock.advance(timedelta(minutes=25))  # the reminder before the 30-minute due time
    w.drain()
    [reminder] = [p for p in rig.api.posts("#support") if p["text"].startswith(":alarm_clock:")]
    [actions] = [b for b in reminder["blocks"] if b["type"] == "actions"]
    assert [(e["action_id"], e["value"]) for e in actions["elements"]] == [("card_update", ref)]


def test_acknowledge_button_shows_while_unacknowledged(rig: SlackRig, w: Worker) -> None:
    token = ingest_token(rig.server, "datadog")
    accepted(rig.server, token, "datadog", dd(tags="env:prod,service:sis,users_per_hour:4000"))  # P1: auto-declared
    w.drain()
    [root] = [p for p in rig.api.posts("#support") if p["blocks"][0]["type"] == "header"]
    assert "Acknowledge" in _buttons(root["blocks"])
    ref = root["blocks"][0]["text"]["text"].split()[0]
    assert rig.slack.click("UALICE", "card_ack", ref).status_code == 200
    w.drain()
    assert "Acknowledge" not in _buttons(_last_card(rig)["blocks"])
    again = rig.slack.click("UALICE", "card_ack", ref)  # another click: nothing more to do, said so
    assert again.status_code == 200
    assert rig.api.wait_for(lambda calls: sum(c.path.startswith("/response/") for c in calls) >= 2)
    assert f"{ref} was already acknowledged." in [b.get("text") for b in rig.slack.responses()]


def test_a_first_move_on_an_unacknowledged_incident_queues_one_card_edit(rig: SlackRig, w: Worker) -> None:
    """Marking it stable also acknowledges it: two card changes in one transaction, one edit row."""
    token = ingest_token(rig.server, "datadog")
    accepted(rig.server, token, "datadog", dd(tags="env:prod,service:sis,users_per_hour:4000"))  # P1: auto-declared
    w.drain()
    [root] = [p for p in rig.api.posts("#support") if p["blocks"][0]["type"] == "header"]
    ref = root["blocks"][0]["text"]["text"].split()[0]
    assert rig.slack.click("UALICE", "card_stable", ref).status_code == 200
    with rig.server.state.sessions() as s:
        cards = s.scalars(select(Notification).where(Notification.event == CARD_EVENT)).all()
    assert [(c.state, c.payload["card"]["state"], c.payload["card"]["acknowledged"]) for c in cards] == [
        ("pending", "stable", True)
    ]
    w.drain()
    last = card_fields(_last_card(rig)["blocks"])
    assert last["State"] == "stable" and "Acknowledge" not in _buttons(_last_card(rig)["blocks"])


def test_a_deleted_card_is_posted_afresh_and_the_thread_follows(rig: SlackRig, w: Worker) -> None:
    ref, root = _declare(rig, w)
    rig.api.deleted.add(root["ts"])
    assert rig.slack.click("UALICE", "card_stable", ref).status_code == 200
    w.drain()
    cards = [p for p in rig.api.posts("#support") if p["blocks"][0]["type"] == "header"]
    assert len(cards) == 2 and "thread_ts" not in cards[1]
    assert card_fields(cards[1]["blocks"])["State"] == "stable"
    assert rig.slack.slash("UALICE", f"update {ref} after the delete").status_code == 200
    w.drain()
    [reply] = [p for p in rig.api.posts("#support") if "after the delete" in p["text"]]
    assert reply["thread_ts"] == cards[1]["ts"]
    assert _last_card(rig)["ts"] == cards[1]["ts"]


@pytest.mark.parametrize("fault", [Fault.rate_limited(retry_after=7), Fault.http(500)])
def test_chat_update_429_and_500_are_retried_and_visible(
    rig: SlackRig, w: Worker, clock: FakeClock, fault: Fault
) -> None:
    ref, root = _declare(rig, w)
    rig.api.fail_path("chat.update", fault)
    assert rig.slack.click("UALICE", "card_stable", ref).status_code == 200
    w.drain()
    assert [c.fault for c in rig.api.calls_to("chat.update")] == [fault]
    assert not rig.api.updates()
    with httpx.Client() as c:
        scrape = c.get(f"{rig.server.url}/metrics").text
    assert 'warroom_notification_channel_failing{channel="support"} 1.0' in scrape
    clock.advance(timedelta(seconds=3))
    w.drain()
    if fault.status == 429:
        assert not rig.api.updates(), "Retry-After (7s) is honoured"
        clock.advance(timedelta(seconds=5))
        w.drain()
    [edit] = rig.api.updates()
    assert card_fields(edit["blocks"])["State"] == "stable" and edit["ts"] == root["ts"]


def test_completed_card_has_no_buttons(rig: SlackRig, w: Worker) -> None:
    ref, _ = _declare(rig, w)
    with rig.server.admin() as c:
        body = {"users_impacted": 10, "impacts": "slow", "detection_method": "alert"}
        assert c.patch(f"/api/v1/incidents/{ref}", json=body).status_code == 200
        token = c.post("/api/v1/tokens", json={"user": "alice"}).json()["token"]
    assert rig.slack.click("UALICE", "card_resolve", ref).status_code == 200
    with rig.server.client(token) as c:
        finish_postmortem(c, ref)
        r = c.post(f"/api/v1/incidents/{ref}/transitions", json={"to": "completed"})
        assert r.status_code == 200, r.text
    w.drain()
    last = _last_card(rig)
    assert card_fields(last["blocks"])["State"] == "completed"
    assert _buttons(last["blocks"]) == []
    r = rig.slack.click("UALICE", "card_update", ref)  # an old card's button: refused, explained
    assert r.status_code == 200
    assert rig.api.wait_for(lambda calls: any("no more status updates" in c.body.decode() for c in calls))


def test_a_page_in_slack_carries_acknowledge_and_other_page_actions_do_not() -> None:
    from warroom.notifications.blocks import message_blocks

    trigger = message_blocks("page", "Paging <@U1> for INC-4", {"incident": "INC-4", "action": "trigger"})
    [actions] = [b for b in trigger if b["type"] == "actions"]
    assert [(e["action_id"], e["value"]) for e in actions["elements"]] == [("card_ack", "INC-4")]
    resolved = message_blocks("page", "INC-4 resolved", {"incident": "INC-4", "action": "resolve"})
    assert not [b for b in resolved if b["type"] == "actions"]
