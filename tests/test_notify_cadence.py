"""Cadence: reminders, automatic updates, escalation, drafts and compliance, driven by a fake clock."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from tests.conftest import T0
from tests.support.http_fakes import SlackApiServer
from tests.support.notify import make_policy, slack_channels, worker
from tests.support.server import Running
from warroom.alerts.models import Alert
from warroom.core.clock import FakeClock
from warroom.policy import Policy
from warroom.scheduler.models import DueJob


@pytest.fixture
def slack() -> Iterator[SlackApiServer]:
    with SlackApiServer() as server:
        yield server


@pytest.fixture
def policy() -> Policy:
    return make_policy(channels=slack_channels(), cadence={"backup_contact": "identity-leads"})


def _texts(slack: SlackApiServer) -> list[str]:
    return [p["text"] for p in slack.posts()]


def test_reminder_auto_update_and_escalation(
    server: Running, slack: SlackApiServer, clock: FakeClock, db_url: str, make_user
) -> None:  # type: ignore[no-untyped-def]
    alice = make_user("alice", "responder", slack_id="U0ALICE")
    w = worker(server.state.sessions, server.state.policy, clock, db_url, slack=slack)
    with server.client(alice) as c:
        r = c.post("/api/v1/incidents", json={"services": ["ssoe"], "priority": "P1", "severity": "SEV-1"})
        ref = r.json()["id"]
        assert r.json()["next_update_due_at"].startswith("2026-10-05T09:30")
    w.drain()
    clock.set(T0 + timedelta(minutes=24, seconds=59))
    w.drain()
    assert len(slack.posts()) == 1  # nothing before due - remind_before
    clock.set(T0 + timedelta(minutes=25))
    w.drain()
    reminder = _texts(slack)[-1]
    assert reminder.startswith(
        ":alarm_clock: <@U0ALICE> the next status update for INC-1 is due at 09:30 UTC. A draft is ready"
    )
    clock.set(T0 + timedelta(minutes=30))
    w.drain()
    auto, ping = _texts(slack)[-2:]
    assert "(automatic status update)" in auto and "INC-1 is active (P1 SEV-1), commander alice" in auto
    assert "No human status update yet." in auto and "Next update due 2026-10-05 10:00 UTC" in auto
    assert ping.startswith(":warning: <@U0ALICE> the status update for INC-1 was due at 09:30 UTC")
    assert "Missed in a row: 1" in ping and "escalat" not in " ".join(_texts(slack)).lower()
    with server.client(alice) as c:
        inc = c.get(f"/api/v1/incidents/{ref}").json()
        assert inc["missed_updates"] == 1 and inc["next_update_due_at"].startswith("2026-10-05T10:00")
    clock.set(T0 + timedelta(minutes=60))
    w.drain()  # the 09:55 reminder and the 10:00 due time both fire now
    texts = _texts(slack)
    escalation = texts[-1]
    assert escalation.startswith(":sos: @identity-leads INC-1 (P1 SEV-1, active) has missed 2 status updates")
    assert sum("(automatic status update)" in t for t in texts) == 2
    assert all(p.get("thread_ts") == slack.posts()[0]["ts"] for p in slack.posts()[1:])
    # a human update resets the count and moves the due time
    clock.set(T0 + timedelta(minutes=70))
    with server.client(alice) as c:
        c.post(f"/api/v1/incidents/{ref}/updates", json={"message": "Failover to SiS done"})
        inc = c.get(f"/api/v1/incidents/{ref}").json()
        assert inc["missed_updates"] == 0 and inc["next_update_due_at"].startswith("2026-10-05T10:40")
        cadence = c.get(f"/api/v1/incidents/{ref}/cadence").json()
    assert cadence["automatic_updates"] == 2 and cadence["human_updates"] == 1 and cadence["missed"] == 2
    assert cadence["late"] == 0 and cadence["on_time"] == 1 and cadence["longest_gap"] == "30m 00s"
    assert cadence["longest_human_gap_seconds"] == 70 * 60


def test_human_update_before_due_means_no_automatic_update(
    server: Running, slack: SlackApiServer, clock: FakeClock, db_url: str
) -> None:
    w = worker(server.state.sessions, server.state.policy, clock, db_url, slack=slack)
    with server.admin() as c:
        ref = c.post("/api/v1/incidents", json={"services": ["sis"], "priority": "P2", "severity": "SEV-2"}).json()[
            "id"
        ]
        clock.set(T0 + timedelta(minutes=20))
        c.post(f"/api/v1/incidents/{ref}/updates", json={"message": "Investigating"})
    for minute in (25, 30, 44):
        clock.set(T0 + timedelta(minutes=minute))
        w.drain()
    texts = _texts(slack)
    assert not any("automatic" in t or "alarm_clock" in t for t in texts), texts
    clock.set(T0 + timedelta(minutes=45))
    w.drain()
    assert "@admin" in _texts(slack)[-1]  # the 20+30-5 = 45 reminder, by handle (no Slack id)
    with server.admin() as c:
        c.post(f"/api/v1/incidents/{ref}/transitions", json={"to": "resolved"})
    with server.state.sessions() as s:
        assert s.scalar(select(func.count()).select_from(DueJob).where(DueJob.done.is_(False))) == 0
    clock.set(T0 + timedelta(hours=3))
    w.drain()
    assert not any("automatic" in t for t in _texts(slack))


def test_no_auto_update_when_switched_off(
    server: Running, slack: SlackApiServer, clock: FakeClock, db_url: str
) -> None:
    off = make_policy(
        channels=slack_channels(), cadence={"auto_update": False, "escalate_after_missed": 1, "backup_contact": "leads"}
    )
    w = worker(server.state.sessions, off, clock, db_url, slack=slack)
    with server.admin() as c:
        ref = c.post("/api/v1/incidents", json={"services": ["sis"], "priority": "P2", "severity": "SEV-2"}).json()[
            "id"
        ]
    clock.set(T0 + timedelta(minutes=30))
    w.drain()
    texts = _texts(slack)
    assert not any("automatic status update" in t for t in texts)
    assert "no automatic update is configured" in texts[-2] and texts[-1].startswith(":sos: @leads")
    with server.admin() as c:
        assert c.get(f"/api/v1/incidents/{ref}").json()["next_update_due_at"].startswith("2026-10-05T10:00")


def test_update_draft_lists_what_changed(server: Running, clock: FakeClock) -> None:
    with server.admin() as c:
        ref = c.post("/api/v1/incidents", json={"services": ["csp"], "priority": "P1", "severity": "SEV-2"}).json()[
            "id"
        ]
        clock.set(T0 + timedelta(minutes=5))
        c.post(f"/api/v1/incidents/{ref}/updates", json={"message": "Looking at id.me"})
        clock.set(T0 + timedelta(minutes=8))
        c.patch(f"/api/v1/incidents/{ref}", json={"severity": "SEV-1"})
        c.post(f"/api/v1/incidents/{ref}/timeline", json={"text": "OOB deploy of the fix requested"})
    with server.state.sessions.begin() as s:
        for title, status, start, end in (
            ("id.me errors", "firing", 2, None),
            ("login.gov errors", "resolved", 7, 9),
            ("dslogon errors", "firing", 10, None),
        ):
            s.add(
                Alert(
                    source="datadog",
                    dedup_key=title,
                    open_key=title if status == "firing" else None,
                    service="csp",
                    environment="production",
                    tier=1,
                    title=title,
                    status=status,
                    priority="P1",
                    priority_rule="r",
                    priority_reason="r",
                    labels={},
                    first_seen_at=T0 + timedelta(minutes=start),
                    last_seen_at=T0 + timedelta(minutes=start),
                    resolved_at=T0 + timedelta(minutes=end) if end else None,
                    incident_id=1,
                    event_count=1,
                )
            )
    clock.set(T0 + timedelta(minutes=12))
    with server.admin() as c:
        r = c.get(f"/api/v1/incidents/{ref}/updates/draft")
        assert r.status_code == 200, r.text
        draft = r.json()
        assert c.get("/api/v1/incidents/INC-99/updates/draft").status_code == 404
    text = draft["text"]
    assert "Since the last update (09:05 UTC):" in text
    kinds = [ch["kind"] for ch in draft["changes"]]
    assert kinds == ["alert_fired", "severity_changed", "note", "alert_recovered", "alert_fired"]
    assert "- 09:08 UTC Severity changed from SEV-2 to SEV-1\n- 09:08 UTC Note (admin): OOB deploy" in text
    assert "OOB deploy of the fix requested" in text and "Alert recovered: login.gov errors" in text
    assert "Still firing: id.me errors since 09:02 UTC; dslogon errors since 09:10 UTC" in text
    assert "Last human update at 09:05 UTC by admin: Looking at id.me" in text
