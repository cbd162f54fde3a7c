"""Who is on call through the API, the CLI and the web UI, on both databases, with docs/oncall.md's example."""

from __future__ import annotations

import shlex
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support import cli
from tests.support.oncall import DAYTIME, PEOPLE, doc_blocks, example_data, example_policy, merged
from tests.support.server import Running
from tests.support.web import csrf_of, login, make_web_user
from tests.support.wired import REGISTRY
from warroom.core.clock import FakeClock
from warroom.main import build_cli
from warroom.oncall import service as oncall
from warroom.policy import Policy, PolicyError, parse_policy

T0 = datetime(2026, 10, 5, 9, 0, tzinfo=UTC)  # Monday 11:00 in Berlin, 05:00 in New York
AT_T0 = build_cli(REGISTRY, clock=FakeClock(T0))  # the command line, with the server's time


@pytest.fixture
def policy_data() -> dict[str, Any]:
    return example_data({"schedules": {"daytime": DAYTIME}})


@pytest.fixture
def policy(policy_data: dict[str, Any]) -> Policy:
    return parse_policy(yaml.safe_dump(policy_data), "test policy")


@pytest.fixture
def env(db_url: str, policy_data: dict[str, Any], tmp_path: Path) -> dict[str, str]:
    """What the CLI needs: the database and the same policy as the server's, as a file."""
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(policy_data))
    return {"WARROOM_DATABASE_URL": db_url, "WARROOM_POLICY": str(path)}


@pytest.fixture
def people(server: Running, make_user: Any) -> dict[str, str]:
    return {h: make_user(h, "responder", email=f"{h}@example.com") for h in PEOPLE}


def _by_schedule(body: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {o["schedule"]: o for o in body}


def _z(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def test_the_docs_example_is_a_valid_policy_and_its_other_blocks_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAGERDUTY_ROUTING_KEY", "0123456789abcdef0123456789abcdef")  # the paging block's key
    p = example_policy()
    assert set(p.schedules) == {"identity-primary", "identity-secondary"}
    assert [lv.schedule for lv in p.escalation_policies["identity"].levels] == [
        "identity-primary",
        "identity-secondary",
    ]
    service = p.service("sis")
    assert service is not None and service.escalation_policy == "identity"
    for block in doc_blocks("yaml")[1:]:  # the external sources
        parse_policy(yaml.safe_dump(merged(yaml.safe_load(block))), "docs/oncall.md")


def test_the_docs_example_answers_with_its_override(
    server: Running, env: dict[str, str], people: dict[str, str]
) -> None:
    """The documented override command, run as written: alice covers Christmas, then carol's week goes on."""
    [command] = [line for line in doc_blocks("sh")[0].splitlines() if line.startswith("warroom oncall override add")]
    cli.ok(*shlex.split(command)[1:], env=env, app=AT_T0)
    p = server.state.policy

    def who(at: str) -> tuple[str | None, str]:
        with server.state.read_sessions() as s:
            answer = oncall.who(s, p, schedule="identity-primary", at=datetime.fromisoformat(at))
            return (answer.user.handle if answer.user else None), answer.via

    assert who("2026-12-24T17:59:59+01:00") == ("carol", "weekly")
    assert who("2026-12-24T18:00:00+01:00") == ("alice", "override")
    assert who("2026-12-25T11:00:00+01:00") == ("alice", "override")  # beats dave's business hours
    assert who("2026-12-26T09:00:00+01:00") == ("carol", "weekly")
    listed = cli.ok("oncall", "override", "list", "--json", env=env, app=AT_T0)
    assert '"note": "covers bob"' in listed and '"timezone": "Europe/Berlin"' in listed


def test_who_is_on_call_now_until_when_and_next(server: Running, people: dict[str, str]) -> None:
    with server.client(people["alice"]) as c:
        r = c.get("/api/v1/oncall", params={"at": T0.isoformat()})
        assert r.status_code == 200, r.text
        found = _by_schedule(r.json())
    primary = found["identity-primary"]
    assert (primary["user"], primary["via"]) == ("dave", "business hours")
    assert _z(primary["until"]) == datetime(2026, 10, 5, 14, tzinfo=UTC)  # 16:00 Berlin
    assert primary["next"]["user"] == "alice" and _z(primary["next"]["start"]) == _z(primary["until"])
    assert _z(primary["next"]["until"]) == datetime(2026, 10, 6, 8, tzinfo=UTC)  # Tuesday 10:00 Berlin
    secondary = found["identity-secondary"]
    assert secondary["user"] == "frank" and _z(secondary["until"]) == datetime(2026, 10, 5, 12, tzinfo=UTC)
    assert secondary["next"]["user"] == "erin" and _z(secondary["next"]["until"]) == datetime(2026, 10, 6, tzinfo=UTC)
    daytime = found["daytime"]
    assert daytime["user"] == "erin" and _z(daytime["until"]) == datetime(2026, 10, 5, 15, tzinfo=UTC)
    with server.client(people["alice"]) as c:
        night = _by_schedule(c.get("/api/v1/oncall", params={"at": "2026-10-05T20:00:00Z"}).json())["daytime"]
        assert (night["user"], night["via"]) == (None, "gap")
        assert _z(night["until"]) == datetime(2026, 10, 6, 7, tzinfo=UTC) and night["next"]["user"] == "erin"
        one = c.get("/api/v1/oncall", params={"schedule": "daytime", "at": T0.isoformat()})
        assert [o["schedule"] for o in one.json()] == ["daytime"]
        assert c.get("/api/v1/oncall", params={"schedule": "nope"}).status_code == 404
        assert c.get("/api/v1/oncall", params={"at": "9999-01-01T00:00:00Z"}).status_code == 422
        shifts = c.get("/api/v1/oncall/schedules/daytime/shifts", params={"start": T0.isoformat()}).json()
    assert _z(shifts[0]["start"]) == T0 and _z(shifts[-1]["end"]) == T0 + timedelta(days=14)
    gaps = [s for s in shifts if s["who"] is None]
    assert len(gaps) == 10 and all(a["end"] == b["start"] for a, b in zip(shifts, shifts[1:], strict=False))


def test_overrides_through_the_api(server: Running, people: dict[str, str], make_user: Any) -> None:
    viewer = make_user("vic", "viewer")
    body = {"schedule": "identity-primary", "user": "bob", "start": "2026-10-05T12:00", "end": "2026-10-05T13:00"}
    with server.client(people["alice"]) as c:
        r = c.post("/api/v1/oncall/overrides", json=body)
        assert r.status_code == 201, r.text
        made = r.json()
        assert made["timezone"] == "Europe/Berlin" and made["created_by"] == "alice"
        assert _z(made["start"]) == datetime(2026, 10, 5, 10, tzinfo=UTC)
        now = _by_schedule(c.get("/api/v1/oncall", params={"at": "2026-10-05T10:30:00Z"}).json())["identity-primary"]
        assert (now["user"], now["via"], _z(now["until"])) == ("bob", "override", datetime(2026, 10, 5, 11, tzinfo=UTC))
        assert now["next"]["user"] == "dave"
        clash = c.post("/api/v1/oncall/overrides", json={**body, "user": "carol", "start": "2026-10-05T12:30+02:00"})
        assert clash.status_code == 409 and clash.json()["error"]["details"] == {"overlaps": made["id"]}
        assert f"#{made['id']} (bob" in clash.json()["error"]["message"]
        touching = c.post(
            "/api/v1/oncall/overrides", json={**body, "start": "2026-10-05T13:00", "end": "2026-10-05T14:00"}
        )
        assert touching.status_code == 201, touching.text  # ends meet: no overlap
        for bad, field in (
            ({"user": "nobody"}, "user"),
            ({"timezone": "Mars/Olympus"}, "timezone"),
            ({"end": "2026-10-05T11:00"}, "end"),
            ({"start": "2026-10-01T11:00", "end": "2026-10-02T11:00"}, "end"),  # over before now
        ):
            r = c.post("/api/v1/oncall/overrides", json={**body, **bad})
            assert r.status_code == 422 and r.json()["error"]["details"]["field"] == field, (bad, r.text)
        assert c.post("/api/v1/oncall/overrides", json={**body, "schedule": "nope"}).status_code == 404
        assert c.post("/api/v1/oncall/overrides", json={**body, "extra": 1}).status_code == 422
        listed = c.get("/api/v1/oncall/overrides", params={"schedule": "identity-primary"}).json()
        assert [o["user"] for o in listed] == ["bob", "bob"]
        assert c.delete(f"/api/v1/oncall/overrides/{made['id']}").status_code == 204
        assert c.delete(f"/api/v1/oncall/overrides/{made['id']}").status_code == 404
        after = _by_schedule(c.get("/api/v1/oncall", params={"at": "2026-10-05T10:30:00Z"}).json())["identity-primary"]
        assert after["user"] == "dave"
    with server.admin() as c:
        actions = [(e["action"], e["via"]) for e in c.get("/api/v1/audit", params={"per_page": "100"}).json()["items"]]
    assert ("POST /api/v1/oncall/overrides", "api") in actions and (
        "DELETE /api/v1/oncall/overrides/{override_id}",
        "api",
    ) in actions
    with server.client(viewer) as c:
        assert c.get("/api/v1/oncall").status_code == 200
        assert c.post("/api/v1/oncall/overrides", json=body).status_code == 403
    with server.client() as c:
        assert c.get("/api/v1/oncall").status_code == 401


def test_the_cli_says_who_is_on_call_and_manages_overrides(
    server: Running, env: dict[str, str], people: dict[str, str]
) -> None:
    text = cli.ok("oncall", "--at", T0.isoformat(), env=env, app=AT_T0)
    assert "identity-primary" in text and "dave" in text and "next alice" in text
    data = yaml.safe_load(
        cli.ok("oncall", "--at", T0.isoformat(), "--schedule", "identity-secondary", "--json", env=env, app=AT_T0)
    )
    assert [(o["schedule"], o["user"]) for o in data] == [("identity-secondary", "frank")]
    added = cli.ok("oncall", "override", "add", "identity-secondary", "erin", "--start", "2026-10-05T06:00",
                   "--end", "2026-10-05T07:00", "--as", "alice", env=env, app=AT_T0)  # fmt: skip
    assert "erin" in added and "America/New_York" in added
    clash = cli.warroom("oncall", "override", "add", "identity-secondary", "bob", "--start", "2026-10-05T06:30",
                        "--end", "2026-10-05T08:00", env=env, app=AT_T0)  # fmt: skip
    assert clash.returncode == 1 and "overlaps override #" in clash.stderr
    bad = cli.warroom(
        "oncall", "override", "add", "identity-secondary", "bob", "--start", "tomorrow", "--end", "x", env=env
    )
    assert bad.returncode == 2 and "ISO 8601" in bad.stderr
    assert "erin" in cli.ok(
        "oncall", "--at", "2026-10-05T10:30:00Z", "--schedule", "identity-secondary", env=env, app=AT_T0
    )
    shifts = cli.ok("oncall", "shifts", "daytime", "--start", T0.isoformat(), "--days", "2", env=env, app=AT_T0)
    assert "GAP: nobody on call" in shifts and "erin" in shifts
    override_id = cli.ok("oncall", "override", "list", env=env, app=AT_T0).split()[0].lstrip("#")
    assert (
        cli.ok("oncall", "override", "remove", override_id, env=env, app=AT_T0).strip()
        == f"override #{override_id} removed"
    )
    assert cli.ok("oncall", "override", "list", env=env, app=AT_T0).strip() == "no overrides"
    missing = cli.warroom("oncall", "--schedule", "nope", env=env, app=AT_T0)
    assert missing.returncode == 1 and "no schedule 'nope'" in missing.stderr


def test_level_targets_for_the_escalation_half(server: Running, people: dict[str, str]) -> None:
    with server.state.read_sessions() as s:
        levels = oncall.level_targets(s, server.state.policy, escalation_policy="identity", at=T0)
        assert [(t.level, [u.handle for u in t.users], t.ack_timeout) for t in levels] == [
            (1, ["dave"], timedelta(minutes=5)),
            (2, ["frank"], timedelta(minutes=5)),
        ]
        assert levels[0].oncall is not None and levels[0].oncall.until == datetime(2026, 10, 5, 14, tzinfo=UTC)


def test_the_web_page_shows_fourteen_days_gaps_and_takes_overrides(server: Running, people: dict[str, str]) -> None:
    make_web_user(server, "alice")
    client, token = login(server, "alice")
    page = client.get("/oncall")
    assert page.status_code == 200
    html = page.text
    assert 'id="schedule-identity-primary"' in html and 'id="schedule-daytime"' in html
    assert html.count("<svg") == 3 and 'class="gap"' in html
    assert "10 gap(s) in the next 14 days" in html
    form = {"csrf": token, "schedule": "daytime", "user": "bob", "start": "2026-10-05T17:00", "end": "2026-10-06T09:00"}
    r = client.post("/oncall/overrides", data=form)
    assert r.status_code == 303, r.text
    html = client.get("/oncall").text
    assert "9 gap(s) in the next 14 days" in html and "Override #1 saved" in html
    clash = client.post("/oncall/overrides", data={"csrf": csrf_of(html), "schedule": "daytime", "user": "carol",
                                                   "start": "2026-10-05T21:00", "end": "2026-10-05T22:00"})  # fmt: skip
    assert clash.status_code == 409 and "overlaps override #1" in clash.text
    assert 'value="2026-10-05T21:00"' in clash.text  # what was typed comes back
    bad = client.post(
        "/oncall/overrides", data={"csrf": token, "schedule": "daytime", "user": "carol", "start": "soon", "end": ""}
    )
    assert bad.status_code == 422 and "expected a date and time" in bad.text
    gone = client.post("/oncall/overrides/1/remove", data={"csrf": token})
    assert gone.status_code == 303
    assert "10 gap(s)" in client.get("/oncall").text
    assert client.post("/oncall/overrides/1/remove", data={"csrf": token}).status_code == 404


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"members": []}, "schedules.s.layers[0].members: a rotation needs at least one member"),
        ({"timezone": "Europe/Berlinn"}, "unknown time zone 'Europe/Berlinn'"),
        ({"length": "fortnightly"}, "expected daily, weekly, Nd, Nw or Nh"),
        ({"length": "30m"}, "a shift lasts from 1 hour to 366 days"),
        ({"handoff": "25:00"}, "expected a time of day like '09:00'"),
        ({"restrictions": [{"days": ["someday"], "start": "09:00", "end": "17:00"}]}, "restrictions[0].days[0]"),
    ],
)
def test_bad_schedules_are_refused_with_the_key(change: dict[str, Any], problem: str) -> None:
    layer = {"members": ["alice"], "start": "2026-01-05", **change}
    with pytest.raises(PolicyError) as caught:
        parse_policy(yaml.safe_dump(merged({"schedules": {"s": {"layers": [layer]}}})), "p.yaml")
    assert any(problem in p for p in caught.value.problems), caught.value.problems


@pytest.mark.parametrize(
    ("snippet", "problem"),
    [
        ({"schedules": {"s": {}}}, "exactly one of layers, ical or pagerduty (found none)"),
        (
            {"schedules": {"s": {"ical": {"url": "https://x.invalid/a.ics"}, "pagerduty": {"schedule_id": "P1"}}}},
            "found ical and pagerduty",
        ),
        ({"schedules": {"s": {"ical": {"url": "file:///etc/passwd"}}}}, "schedules.s.ical.url"),
        ({"schedules": {"s": {"pagerduty": {}}}}, "exactly one of schedule_id or escalation_policy_id"),
        ({"escalation_policies": {"e": {"levels": [{"schedule": "nope"}]}}}, "unknown schedule 'nope'"),
        ({"escalation_policies": {"e": {"levels": [{"users": ["a"], "schedule": "x"}]}}}, "exactly one of: a schedule"),
        ({"escalation_policies": {"e": {"levels": []}}}, "escalation_policies.e.levels"),
        (
            {"services": [{"key": "sis", "name": "x", "escalation_policy": "ghost"}]},
            "unknown escalation policy 'ghost'",
        ),
        ({"schedules": {"Bad Name": {"pagerduty": {"schedule_id": "P1"}}}}, "names are 1-64 of a-z"),
    ],
)
def test_bad_schedule_references_are_refused(snippet: dict[str, Any], problem: str) -> None:
    with pytest.raises(PolicyError) as caught:
        parse_policy(yaml.safe_dump(merged(snippet)), "p.yaml")
    assert any(problem in p for p in caught.value.problems), caught.value.problems


def test_policy_check_names_the_bad_key(tmp_path: Any) -> None:
    bad = merged(
        {"schedules": {"primary": {"timezone": "Europe/Berln", "layers": [{"members": ["a"], "start": "2026-01-05"}]}}}
    )
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(bad))
    ran = cli.warroom("policy", "check", str(path), env={})
    assert ran.returncode == 2 and "schedules.primary.timezone: unknown time zone 'Europe/Berln'" in ran.stderr


def test_members_who_are_no_users_are_named_not_matched(server: Running, make_user: Any) -> None:
    """Before anyone is a warroom user: the schedule still says whose turn it is, /healthz says who is missing."""
    make_user("dave", "responder")
    with server.client(make_user("vic", "viewer")) as c:
        found = _by_schedule(c.get("/api/v1/oncall", params={"at": "2026-10-05T20:00:00Z"}).json())
    assert (found["identity-primary"]["user"], found["identity-primary"]["who"]) == (None, "alice")
    with server.admin() as c:
        health = c.get("/healthz").json()
    warnings = health.get("warnings", [])
    assert "on call: identity-primary names 'alice', who is no active warroom user" in warnings
    assert not any("'dave'" in w for w in warnings)
    assert health["status"] == "ok"  # a warning, not an outage
