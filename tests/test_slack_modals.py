"""The declare and update modals from Slack: opened within the trigger's life, validated under the
field, submitted once; the declare prompt's Declare and Dismiss buttons."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import Engine

from tests.support.alerts import accepted, alerts, dd, ingest_token
from tests.support.notify import make_policy, slack_channels, worker
from tests.support.slack_app import SlackRig, slack_rig
from warroom.core.clock import FakeClock
from warroom.policy import Policy


@pytest.fixture
def policy() -> Policy:
    return make_policy(channels=slack_channels(), triage={"auto_declare": False})


@pytest.fixture
def rig(engine: Engine, db_url: str, policy: Policy, clock: FakeClock) -> Iterator[SlackRig]:
    with slack_rig(engine, db_url, policy, clock) as r:
        r.user("alice", "UALICE")
        r.user("bob", "UBOB")
        r.user("vic", "UVIC", "viewer")
        yield r


def _incidents(rig: SlackRig) -> list[dict[str, Any]]:
    with rig.server.admin() as c:
        items: list[dict[str, Any]] = c.get("/api/v1/incidents").json()["items"]
        return items


def _open_declare(rig: SlackRig, user: str = "UALICE") -> dict[str, Any]:
    before = len(rig.slack.opened_views())
    r = rig.slack.slash(user, "declare")
    assert r.status_code == 200 and not r.content, r.text  # nothing to say: the modal is open
    views = rig.slack.opened_views()
    assert len(views) == before + 1
    return views[-1]


def test_declare_modal_shows_the_matrix_and_defaults_to_the_declarer(rig: SlackRig) -> None:
    view = _open_declare(rig)
    assert view["callback_id"] == "incident_declare" and view["type"] == "modal"
    blocks = {b.get("block_id"): b for b in view["blocks"]}
    assert set(blocks) >= {"services", "priority", "severity", "title", "commander", "summary"}
    assert blocks["commander"]["element"] == {"type": "users_select", "action_id": "value", "initial_user": "UALICE"}
    matrix = next(b for b in view["blocks"] if b["type"] == "context")["elements"][0]["text"]
    assert "Priority matrix" in matrix and "P1" in matrix and "&gt; 1,000/h" in matrix
    assert "sis" in [o["value"] for o in blocks["services"]["element"]["options"]]
    assert "experiencing degraded service" in blocks["title"]["hint"]["text"]


def test_declare_modal_submit_declares_with_summary_once(rig: SlackRig) -> None:
    view = _open_declare(rig)
    values = {"services": ["sis"], "priority": "P1", "severity": "SEV-2", "commander": ("user", "UBOB")}
    values["summary"] = "Sign-in fails for <!channel> users"
    r = rig.slack.submit("UALICE", view, values)
    assert r.status_code == 200 and not r.content  # closes the modal
    again = rig.slack.submit("UALICE", view, values)  # double submit: same view id
    assert again.status_code == 200
    [inc] = _incidents(rig)
    assert (inc["priority"], inc["commander"], inc["services"]) == ("P1", "bob", ["sis"])
    assert inc["title"].endswith("is experiencing degraded service")
    with rig.server.admin() as c:
        items = c.get(f"/api/v1/incidents/{inc['id']}/timeline").json()["items"]
        audit = c.get("/api/v1/audit", params={"actor": "alice"}).json()["items"]
    assert any(e["text"] == "Summary: Sign-in fails for <!channel> users" for e in items)
    assert [e["actor"] for e in items if e["kind"] == "declared"] == ["alice"]
    assert [a["via"] for a in audit if a["action"] == "slack declare"] == ["slack"]


@pytest.mark.parametrize(
    ("values", "field", "message"),
    [
        ({"commander": ("user", "UVIC")}, "commander", "vic is a viewer"),
        ({"commander": ("user", "USTRANGER")}, "commander", "not linked to a warroom user"),
        ({"services": []}, "services", "pick at least one service"),
        ({"severity": "SEV-0"}, "severity", "unknown severity"),
    ],
)
def test_declare_modal_errors_come_back_under_the_field(
    rig: SlackRig, values: dict[str, Any], field: str, message: str
) -> None:
    view = _open_declare(rig)
    full = {"services": ["sis"], "priority": "P2", "severity": "SEV-3", **values}
    r = rig.slack.submit("UALICE", view, full)
    assert r.status_code == 200
    body = r.json()
    assert body["response_action"] == "errors" and list(body["errors"]) == [field], body
    assert message in body["errors"][field]
    assert _incidents(rig) == []


def test_update_button_opens_the_draft_and_submit_posts_once(rig: SlackRig, clock: FakeClock) -> None:
    view = _open_declare(rig)
    rig.slack.submit("UALICE", view, {"services": ["sis"], "priority": "P2", "severity": "SEV-3"})
    [inc] = _incidents(rig)
    ref = inc["id"]
    r = rig.slack.click("UBOB", "card_update", ref)
    assert r.status_code == 200
    update = rig.slack.opened_views()[-1]
    assert update["callback_id"] == "incident_update"
    draft = update["blocks"][1]["element"]["initial_value"]
    assert f"{ref} is active" in draft
    r = rig.slack.submit("UBOB", update, {"message": "Rolled back; errors falling."})
    assert r.status_code == 200 and not r.content
    rig.slack.submit("UBOB", update, {"message": "Rolled back; errors falling."})
    with rig.server.admin() as c:
        updates = c.get(f"/api/v1/incidents/{ref}/updates").json()
    assert [(u["actor"], u["message"]) for u in updates] == [("bob", "Rolled back; errors falling.")]
    empty = rig.slack.submit("UBOB", {**update, "id": "V-other"}, {"message": " "})
    assert empty.json()["errors"] == {"message": "an update needs a message"}


def test_an_expired_trigger_is_told_and_counted(rig: SlackRig) -> None:
    rig.api.expired_triggers.add("9.9.expired")
    r = rig.slack.slash("UALICE", "declare", trigger_id="9.9.expired")
    assert "trigger expired" in r.json()["text"]
    with httpx.Client() as c:
        scrape = c.get(f"{rig.server.url}/metrics").text
    assert 'warroom_slack_api_errors_total{error="expired_trigger_id",method="views.open"}' in scrape


def _prompt(rig: SlackRig, policy: Policy, clock: FakeClock, db_url: str) -> tuple[dict[str, Any], int]:
    token = ingest_token(rig.server, "datadog")
    accepted(rig.server, token, "datadog", dd(tags="env:prod,service:sis,users_per_hour:4000"))
    [alert] = alerts(rig.server)["items"]
    w = worker(rig.server.state.sessions, policy, clock, db_url, slack=rig.api)
    w.drain()
    [post] = [p for p in rig.api.posts("#support") if "Declare an incident?" in p["text"]]
    return post, alert["id"]


def test_declare_prompt_declare_button_prefills_and_attaches(
    rig: SlackRig, policy: Policy, clock: FakeClock, db_url: str
) -> None:
    post, alert_id = _prompt(rig, policy, clock, db_url)
    [actions] = [b for b in post["blocks"] if b["type"] == "actions"]
    assert [(e["action_id"], e["value"]) for e in actions["elements"]] == [
        ("prompt_declare", str(alert_id)),
        ("prompt_dismiss", str(alert_id)),
    ]
    assert rig.slack.click("UALICE", "prompt_declare", str(alert_id)).status_code == 200
    view = rig.slack.opened_views()[-1]
    blocks = {b.get("block_id"): b for b in view["blocks"]}
    assert [o["value"] for o in blocks["services"]["element"]["initial_options"]] == ["sis"]
    assert blocks["priority"]["element"]["initial_option"]["value"] == "P1"
    assert "sign-in error rate" in blocks["title"]["element"]["initial_value"]
    assert rig.slack.submit("UALICE", view, {}).status_code == 200
    [inc] = _incidents(rig)
    assert inc["priority"] == "P1"
    [alert] = alerts(rig.server)["items"]
    assert alert["incident"] == inc["id"]
    assert rig.api.wait_for(lambda calls: any(c.path.startswith("/response/") for c in calls))
    [replaced] = rig.slack.responses()
    assert replaced["replace_original"] is True and f"Declared as *{inc['id']}* by <@UALICE>" in replaced["text"]


def test_declare_prompt_dismiss_rewrites_the_prompt(
    rig: SlackRig, policy: Policy, clock: FakeClock, db_url: str
) -> None:
    _, alert_id = _prompt(rig, policy, clock, db_url)
    assert rig.slack.click("UALICE", "prompt_dismiss", str(alert_id)).status_code == 200
    assert rig.api.wait_for(lambda calls: any(c.path.startswith("/response/") for c in calls))
    [replaced] = rig.slack.responses()
    assert replaced["replace_original"] is True and "dismissed by <@UALICE>" in replaced["text"]
    assert _incidents(rig) == []
    r = rig.slack.click("UVIC", "prompt_declare", str(alert_id))  # a viewer cannot declare
    assert r.status_code == 200 and not rig.api.calls_to("views.open")
