"""/slack/events: signatures, users and roles, slash commands with ephemeral answers, retries.

A fake Slack sends signed requests exactly as Slack does to a real `serve` over loopback."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from tests.support.notify import make_policy
from tests.support.slack_app import SlackRig, slack_rig
from warroom.core.clock import FakeClock
from warroom.policy import Policy


@pytest.fixture
def rig(engine: Engine, db_url: str, policy: Policy, clock: FakeClock) -> Iterator[SlackRig]:
    with slack_rig(engine, db_url, policy, clock) as r:
        r.user("alice", "UALICE")
        r.user("vic", "UVIC", "viewer")
        yield r


def _declare(rig: SlackRig, **kw: Any) -> str:
    with rig.server.admin() as c:
        r = c.post(
            "/api/v1/incidents",
            json={"services": ["sis"], "priority": "P2", "severity": "SEV-2", "commander": "alice", **kw},
        )
        assert r.status_code == 201, r.text
        return str(r.json()["id"])


def _incident(rig: SlackRig, ref: str) -> dict[str, Any]:
    with rig.server.admin() as c:
        data: dict[str, Any] = c.get(f"/api/v1/incidents/{ref}").json()
        return data


def _timeline(rig: SlackRig, ref: str) -> list[dict[str, Any]]:
    with rig.server.admin() as c:
        items: list[dict[str, Any]] = c.get(f"/api/v1/incidents/{ref}/timeline").json()["items"]
        return items


def _audit(rig: SlackRig, actor: str) -> list[dict[str, Any]]:
    with rig.server.admin() as c:
        items: list[dict[str, Any]] = c.get("/api/v1/audit", params={"actor": actor}).json()["items"]
        return items


def test_unsigned_stale_or_wrongly_signed_requests_are_401_and_logged_without_body(
    rig: SlackRig, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    secret_text = "note INC-1 do-not-log-me"
    with caplog.at_level(logging.WARNING, logger="warroom.slack.entry"):
        assert rig.slack.slash("UALICE", secret_text, signed=False).status_code == 401
        assert rig.slack.slash("UALICE", secret_text, secret="not-the-secret").status_code == 401
        stale = int(clock.now().timestamp()) - 301
        assert rig.slack.slash("UALICE", secret_text, timestamp=stale).status_code == 401
        future = int(clock.now().timestamp()) + 301
        assert rig.slack.slash("UALICE", secret_text, timestamp=future).status_code == 401
    assert "do-not-log-me" not in caplog.text
    assert caplog.text.count("/slack/events refused") == 4
    assert "stale" in caplog.text and "wrong signature" in caplog.text and "unsigned" in caplog.text
    # within the window it passes
    ok = rig.slack.slash("UALICE", "help", timestamp=int(clock.now().timestamp()) - 299)
    assert ok.status_code == 200


def test_url_verification_is_answered(rig: SlackRig) -> None:
    body = b'{"token":"x","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}'
    r = rig.slack.send(body, content_type="application/json")
    assert r.status_code == 200 and r.json() == {"challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}


def test_help_and_status_are_ephemeral(rig: SlackRig) -> None:
    r = rig.slack.slash("UVIC", "help")
    assert r.status_code == 200 and r.json()["response_type"] == "ephemeral"
    assert "/warroom declare" in r.json()["text"]
    assert rig.slack.slash("UVIC", "status").json()["text"] == "No incident is open."
    ref = _declare(rig, title="Login <!channel> broken & slow")
    text = rig.slack.slash("UVIC", "status").json()["text"]
    assert ref in text and "&lt;!channel&gt;" in text and "<!channel>" not in text and "update due" in text


def test_unknown_slack_user_is_told_how_to_be_linked(rig: SlackRig) -> None:
    r = rig.slack.slash("UNOBODY", "status")
    assert r.status_code == 200
    assert "not a warroom user" in r.json()["text"] and "--slack-id UNOBODY" in r.json()["text"]
    with rig.server.admin() as c:
        assert not [u for u in c.get("/api/v1/users").json() if u.get("slack_id") == "UNOBODY"]


@pytest.mark.parametrize("policy", [make_policy(slack={"create_unknown_users": True})])
def test_unknown_slack_user_may_become_a_viewer_who_cannot_declare(rig: SlackRig) -> None:
    r = rig.slack.slash("UNEW", "status")
    assert r.json()["text"] == "No incident is open."
    with rig.server.admin() as c:
        [made] = [u for u in c.get("/api/v1/users").json() if u.get("slack_id") == "UNEW"]
    assert made["role"] == "viewer" and made["handle"] == "unew"
    r = rig.slack.slash("UNEW", "declare")
    assert "needs the responder role" in r.json()["text"]
    assert not rig.api.calls_to("views.open")


def test_role_table_viewer_reads_responder_acts(rig: SlackRig) -> None:
    ref = _declare(rig)
    for text in ("declare", f"ack {ref}", f"stable {ref}", f"resolve {ref}", f"note {ref} hi", f"update {ref} x"):
        r = rig.slack.slash("UVIC", text)
        assert "needs the responder role" in r.json()["text"], text
    assert _incident(rig, ref)["state"] == "active"
    assert rig.slack.slash("UVIC", "status").status_code == 200


def test_commands_change_the_incident_on_timeline_and_audit_with_channel_slack(rig: SlackRig) -> None:
    ref = _declare(rig)
    r = rig.slack.slash("UALICE", f"note {ref} rolled back the deploy")
    assert r.json()["text"] == f"Noted on {ref}'s timeline."
    r = rig.slack.slash("UALICE", f"update {ref} Mitigated by rollback; watching.")
    assert r.json()["text"] == f"Update posted on {ref}."
    assert rig.slack.slash("UALICE", f"stable {ref}").json()["text"] == f"{ref} is now stable."
    assert rig.slack.slash("UALICE", f"resolve {ref.lower()} fixed").json()["text"] == f"{ref} is now resolved."
    kinds = [(e["kind"], e["actor"]) for e in _timeline(rig, ref)]
    for kind in ("note", "status_update", "state_changed"):
        assert (kind, "alice") in kinds
    audit = _audit(rig, "alice")
    assert {a["via"] for a in audit} == {"slack"}
    assert {a["action"] for a in audit} >= {"slack note", "slack update", "slack stable", "slack resolved"}


def test_refused_transition_explains_itself(rig: SlackRig) -> None:
    ref = _declare(rig)
    assert rig.slack.slash("UALICE", f"resolve {ref}").status_code == 200
    r = rig.slack.slash("UALICE", f"stable {ref}")
    assert r.status_code == 200 and r.json()["response_type"] == "ephemeral"
    assert (
        "cannot move from resolved to stable" in r.json()["text"] and "allowed: active, completed" in r.json()["text"]
    )
    r = rig.slack.slash("UALICE", "ack INC-999")
    assert "no incident" in r.json()["text"]
    r = rig.slack.click("UALICE", "card_ack", "<!channel>")  # echoed back escaped, never as markup
    assert r.status_code == 200
    assert rig.api.wait_for(lambda calls: any(b"&lt;!channel&gt;" in c.body for c in calls))
    assert not any(b"<!channel>" in c.body for c in rig.api.calls_to("response"))


def test_a_retried_command_runs_once(rig: SlackRig) -> None:
    ref = _declare(rig)
    first = rig.slack.slash("UALICE", f"note {ref} once", trigger_id="111.222.abc")
    again = rig.slack.slash("UALICE", f"note {ref} once", trigger_id="111.222.abc", retry=1)
    assert first.status_code == again.status_code == 200
    assert [e["text"] for e in _timeline(rig, ref)].count("once") == 1


def test_command_without_incident_offers_a_picker_of_open_ones(rig: SlackRig) -> None:
    ref = _declare(rig)
    r = rig.slack.slash("UALICE", "ack")
    [block] = r.json()["blocks"]
    assert block["accessory"]["action_id"] == "incident_pick_ack"
    assert [o["value"] for o in block["accessory"]["options"]] == [ref]
    assert rig.slack.click("UALICE", "incident_pick_stable", ref, select=True).status_code == 200
    assert _incident(rig, ref)["state"] == "stable"
    assert rig.api.wait_for(lambda calls: any(c.path.startswith("/response/") for c in calls))
    assert any(f"{ref} is now stable." in b.get("text", "") for b in rig.slack.responses())
