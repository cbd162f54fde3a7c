"""What the messages say (issue 18 item 11): the declaration mentions the commander, escalation to a
Slack user group is a real mention, thread replies may be broadcast, the leadership message on
completion carries severity, impact, duration and the postmortem link, (the postmortem's part:
tests/test_postmortem_render.py). Fake Slack, both databases."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from tests.conftest import T0
from tests.support.http_fakes import SlackApiServer
from tests.support.incidents import finish_postmortem
from tests.support.notify import make_policy, worker
from tests.support.server import Running
from warroom.core.clock import FakeClock
from warroom.policy import Policy


@pytest.fixture
def slack() -> Iterator[SlackApiServer]:
    with SlackApiServer() as server:
        yield server


@pytest.fixture
def policy() -> Policy:
    return make_policy(
        channels={
            "support": {"type": "slack", "channel": "#support", "reply_broadcast": ["update", "resolved"]},
            "leadership": {"type": "slack", "channel": "#leaders"},
        },
        cadence={"backup_contact": "identity-leads", "escalate_after_missed": 2},
        notifications={"slack_groups": {"identity-leads": "S0LEADS"}},
    )


def test_mentions_group_escalation_broadcast_and_leadership_summary(
    server: Running, slack: SlackApiServer, clock: FakeClock, db_url: str, make_user
) -> None:  # type: ignore[no-untyped-def]
    alice = make_user("alice", slack_id="U0ALICE")
    w = worker(server.state.sessions, server.state.policy, clock, db_url, slack=slack)
    with server.client(alice) as c:
        r = c.post(
            "/api/v1/incidents",
            json={"services": ["sis"], "priority": "P1", "severity": "SEV-1", "title": "Sign-in down"},
        )
        ref = r.json()["id"]
        w.drain()
        assert c.post(f"/api/v1/incidents/{ref}/updates", json={"message": "Rolling back"}).status_code == 201
    w.drain()
    for minutes in (30, 60):  # two due times missed: 09:30 and 10:00
        clock.set(T0 + timedelta(minutes=minutes))
        w.drain()
    posts = slack.posts("#support")
    declared = posts[0]["text"]
    assert "Commander: <@U0ALICE>" in declared, declared
    update = next(p for p in posts if "status update from alice" in p["text"])
    assert update["reply_broadcast"] is True
    reminders = [p for p in posts if p["text"].startswith((":alarm_clock:", ":warning:"))]
    assert reminders and all("reply_broadcast" not in p for p in reminders)
    escalation = next(p for p in posts if p["text"].startswith(":sos:"))
    assert escalation["text"].startswith(":sos: <!subteam^S0LEADS> INC-1"), escalation["text"]
    with server.client(alice) as c:
        fields = {"users_impacted": 4200, "impacts": "Nobody could sign in", "detection_method": "alert"}
        assert c.patch(f"/api/v1/incidents/{ref}", json=fields).status_code == 200
        clock.set(T0 + timedelta(minutes=90))
        assert c.post(f"/api/v1/incidents/{ref}/transitions", json={"to": "resolved"}).status_code == 200
        finish_postmortem(c, ref)
        assert c.post(f"/api/v1/incidents/{ref}/transitions", json={"to": "completed"}).status_code == 200
    w.drain()
    (leaders,) = slack.posts("#leaders")
    text = leaders["text"]
    assert text.startswith("INC-1 completed by alice: Sign-in down")
    assert "Severity: SEV-1 (P1)" in text and "Duration: 1h 30m" in text and "4,200 users impacted" in text
    assert "Impact: Nobody could sign in" in text and "Postmortem: http://" in text
    assert "/incidents/INC-1/postmortem" in text
