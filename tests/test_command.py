"""The commander is an active user whose role may command, never free text; handing over command is its
own action (API, CLI, web), on the timeline and notified; deactivating a commander needs a new one;
reminders never ping a deactivated person (issue 18 item 6). Both databases, fake Slack."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from tests.conftest import T0
from tests.support import cli
from tests.support.alerts import accepted, ingest_token, payload
from tests.support.http_fakes import SlackApiServer
from tests.support.notify import make_policy, slack_channels, worker
from tests.support.server import Running
from tests.support.web import login, make_web_user
from warroom.core.clock import FakeClock
from warroom.policy import Policy


@pytest.fixture
def slack() -> Iterator[SlackApiServer]:
    with SlackApiServer() as server:
        yield server


@pytest.fixture
def policy() -> Policy:
    return make_policy(channels=slack_channels())


def _declare(c: Any, **kw: Any) -> Any:
    return c.post("/api/v1/incidents", json={"services": ["sis"], "priority": "P1", "severity": "SEV-2", **kw})


def test_commander_must_be_an_active_user_who_may_command(server: Running, make_user) -> None:  # type: ignore[no-untyped-def]
    alice = make_user("alice")
    make_user("vic", "viewer")
    make_user("gone")
    with server.admin() as c:
        assert c.patch("/api/v1/users/gone", json={"active": False}).status_code == 200
    with server.client(alice) as c:
        for commander, why in (
            ("alicee", "'alicee' is not a warroom user"),
            ("gone", "gone is deactivated"),
            ("vic", "vic is a viewer"),
        ):
            r = _declare(c, commander=commander)
            assert r.status_code == 422, r.text
            err = r.json()["error"]
            assert why in err["message"] and err["details"]["field"] == "commander", err
        r = _declare(c, commander="Alice")
        assert r.status_code == 201 and r.json()["commander"] == "alice"
        ref = r.json()["id"]
        # PATCH cannot slip free text in either
        r = c.patch(f"/api/v1/incidents/{ref}", json={"commander": "alicee"})
        assert r.status_code == 422 and "not a warroom user" in r.json()["error"]["message"]
        assert c.get(f"/api/v1/incidents/{ref}").json()["commander"] == "alice"


def test_hand_over_is_its_own_action_on_timeline_and_notified(
    server: Running, slack: SlackApiServer, clock: FakeClock, db_url: str, make_user
) -> None:  # type: ignore[no-untyped-def]
    alice = make_user("alice", slack_id="U0ALICE")
    make_user("bob", slack_id="U0BOB")
    make_user("carol")
    w = worker(server.state.sessions, server.state.policy, clock, db_url, slack=slack)
    with server.client(alice) as c:
        ref = _declare(c, commander="alice").json()["id"]
        w.drain()
        r = c.post(f"/api/v1/incidents/{ref}/commander", json={"to": "nobody"})
        assert r.status_code == 422 and r.json()["error"]["details"]["field"] == "commander"
        r = c.post(f"/api/v1/incidents/{ref}/commander", json={"to": "bob", "reason": "end of shift"})
        assert r.status_code == 200 and r.json()["commander"] == "bob", r.text
        assert c.post(f"/api/v1/incidents/{ref}/commander", json={"to": "bob"}).status_code == 409
        entry = c.get(f"/api/v1/incidents/{ref}/timeline").json()["items"][-1]
    assert entry["kind"] == "role_changed" and entry["data"]["from"] == "alice" and entry["data"]["to"] == "bob"
    assert entry["text"] == "Command handed over from alice to bob by alice: end of shift"
    w.drain()
    declared, handed = slack.posts("#support")
    assert "Commander: <@U0ALICE>" in declared["text"]
    assert "command handed over from <@U0ALICE> to <@U0BOB> by alice: end of shift" in handed["text"]
    assert handed["thread_ts"] == declared["ts"]
    assert "*Commander*\\n<@U0BOB>" in json.dumps(slack.updates()[-1]["blocks"])  # the card follows
    clock.set(T0 + timedelta(minutes=25))
    w.drain()
    reminder = slack.posts("#support")[-1]["text"]
    assert reminder.startswith(":alarm_clock: <@U0BOB> the next status update")  # the new commander is reminded
    # the CLI hands over too (on the system clock), and only to someone who may command
    env = {"WARROOM_DATABASE_URL": db_url}
    bad = cli.warroom("incident", "hand-over", ref, "zed", "--as", "bob", env=env)
    assert bad.returncode != 0 and "not a warroom user" in bad.stderr
    assert "now commanded by carol" in cli.ok("incident", "hand-over", ref, "carol", "--as", "bob", env=env)
    with server.admin() as c:
        assert c.get(f"/api/v1/incidents/{ref}").json()["commander"] == "carol"


def test_deactivating_a_commander_needs_a_new_one_and_nobody_pings_them(
    server: Running, slack: SlackApiServer, clock: FakeClock, db_url: str, make_user
) -> None:  # type: ignore[no-untyped-def]
    alice = make_user("alice", slack_id="U0ALICE")
    make_user("bob", slack_id="U0BOB")
    w = worker(server.state.sessions, server.state.policy, clock, db_url, slack=slack)
    with server.client(alice) as c:
        ref = _declare(c).json()["id"]
        other = _declare(c, services=["tou"]).json()["id"]
    with server.admin() as c:
        r = c.patch("/api/v1/users/alice", json={"active": False})
        assert r.status_code == 409, r.text
        err = r.json()["error"]
        assert err["details"]["incidents"] == [ref, other] and err["details"]["field"] == "new_commander"
        assert c.get("/api/v1/users").json()[1]["active"] is True  # nothing changed
        r = c.patch("/api/v1/users/alice", json={"active": False, "new_commander": "alice"})
        assert r.status_code == 422
        r = c.patch("/api/v1/users/alice", json={"active": False, "new_commander": "bob"})
        assert r.status_code == 200 and r.json()["active"] is False
        assert {c.get(f"/api/v1/incidents/{i}").json()["commander"] for i in (ref, other)} == {"bob"}
    clock.set(T0 + timedelta(minutes=30))
    w.drain()
    texts = [p["text"] for p in slack.posts("#support")]
    assert "U0ALICE" not in " ".join(texts[2:]), texts  # after the declarations: never alice again
    assert any(t.startswith(":alarm_clock: <@U0BOB>") for t in texts)
    # the CLI: a commander cannot be deactivated without someone taking over
    env = {"WARROOM_DATABASE_URL": db_url}
    refused = cli.warroom("user", "deactivate", "bob", env=env)
    assert refused.returncode != 0 and "name a new commander" in refused.stderr
    assert "admin took over" in cli.ok("user", "deactivate", "bob", "--new-commander", "admin", env=env)


def test_auto_declared_oncall_commander_is_kept_but_shown(server: Running, clock: FakeClock) -> None:
    """Until on-call schedules name a person (issue 21), an automatic declaration keeps the service's
    `oncall` (identity-oncall, no warroom user) as commander, and says so everywhere."""
    token = ingest_token(server, "events")
    body = payload("events_trigger")
    body["routing_key"] = token
    accepted(server, token, "events", body)
    with server.admin() as c:
        inc = c.get("/api/v1/incidents/INC-1").json()
        assert inc["commander"] == "identity-oncall"
        assert inc["commander_problem"] == "'identity-oncall' is not a warroom user"
        tl = c.get("/api/v1/incidents/INC-1/timeline").json()["items"]
        assert any(e["kind"] == "commander_unassigned" and "hand over command" in e["text"] for e in tl)
        assert c.post("/api/v1/incidents/INC-1/commander", json={"to": "admin"}).json()["commander_problem"] is None


def test_web_declare_offers_only_commanders_and_hand_over_works(server: Running, make_user) -> None:  # type: ignore[no-untyped-def]
    make_web_user(server, "alice")
    make_web_user(server, "bob")
    make_user("vic", "viewer")
    web, token = login(server, "alice")
    form = web.get("/incidents/new").text
    assert '<option value="alice" selected>' in form and '<option value="bob">' in form and 'value="vic"' not in form
    r = web.post(
        "/incidents/new",
        data={"csrf": token, "services": "sis", "priority": "P1", "severity": "SEV-2", "commander": "alicee"},
    )
    assert r.status_code == 303 and "not a warroom user" in web.get(r.headers["location"]).text
    r = web.post("/incidents/new", data={"csrf": token, "services": "sis", "priority": "P1", "severity": "SEV-2"})
    ref = r.headers["location"].rsplit("/", 1)[-1]
    room = web.get(f"/incidents/{ref}").text
    assert 'id="hand-over"' in room and '<option value="bob">' in room
    r = web.post(f"/incidents/{ref}/commander", data={"csrf": token, "to": "bob", "reason": "shift change"})
    assert r.status_code == 303
    room = web.get(r.headers["location"]).text
    assert "bob now commands" in room and 'id="command-current">bob<' in room
    assert "Command handed over from alice to bob by alice: shift change" in room
