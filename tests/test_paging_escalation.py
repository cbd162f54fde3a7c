"""Escalation (issue 21, second half): an auto-declared P1 of a service with an escalation policy is
commanded by the level-1 person, pages them, pages the next level when nobody acknowledges within the
level's timeout (a due-time row), stops on acknowledgement (API, CLI, web), and tells the pager on
acknowledge and resolve. With docs/oncall.md's example and a fake clock, on both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import select

from tests.support import cli
from tests.support.alerts import accepted, ingest_token, payload, run_jobs
from tests.support.oncall import PEOPLE, example_data
from tests.support.server import Running
from tests.support.web import login, make_web_user
from tests.support.wired import REGISTRY
from warroom.core.clock import FakeClock
from warroom.incidents.models import EscalationPage
from warroom.main import build_cli
from warroom.notifications.models import Notification
from warroom.policy import Policy, parse_policy
from warroom.scheduler.models import DueJob

T0 = datetime(2026, 10, 5, 9, 0, tzinfo=UTC)  # Monday 11:00 Berlin: dave (business hours layer) is primary
PAGING = {
    "channels": {"pager": {"type": "webhook", "url": "http://127.0.0.1:9/never"}},
    "routes": {"page": ["pager"]},
}


@pytest.fixture
def policy_data() -> dict[str, Any]:
    data = example_data()
    data["channels"] = {**data["channels"], **PAGING["channels"]}
    data["routes"] = {**data["routes"], **PAGING["routes"]}
    return data


@pytest.fixture
def policy(policy_data: dict[str, Any]) -> Policy:
    return parse_policy(yaml.safe_dump(policy_data), "test policy")


@pytest.fixture
def people(server: Running, make_user: Any) -> dict[str, str]:
    return {h: make_user(h, "responder", email=f"{h}@example.com") for h in PEOPLE}


def fire(server: Running, token: str, key: str = "sis-5xx", users: int = 5000, service: str = "sis") -> None:
    body = payload("events_trigger")
    body["routing_key"], body["dedup_key"] = token, key
    body["payload"]["summary"] = f"{service} errors"
    body["payload"]["custom_details"] = {"service": service, "env": "prod", "users_per_hour": users}
    accepted(server, token, "events", body)


def incident(server: Running, ref: str = "INC-1") -> dict[str, Any]:
    with server.admin() as c:
        r = c.get(f"/api/v1/incidents/{ref}")
        assert r.status_code == 200, r.text
        out: dict[str, Any] = r.json()
        return out


def timeline(server: Running, ref: str = "INC-1", kind: str | None = None) -> list[dict[str, Any]]:
    with server.admin() as c:
        items: list[dict[str, Any]] = c.get(f"/api/v1/incidents/{ref}/timeline", params={"per_page": 500}).json()[
            "items"
        ]
    return [e for e in items if kind is None or e["kind"] == kind]


def page_rows(server: Running) -> list[EscalationPage]:
    with server.state.sessions() as s:
        return list(s.scalars(select(EscalationPage).order_by(EscalationPage.level)))


def pager_actions(server: Running) -> list[tuple[str, Any]]:
    with server.state.sessions() as s:
        rows = s.scalars(select(Notification).where(Notification.event == "page")).all()
        return sorted((n.payload["action"], n.payload.get("level")) for n in rows)


def test_no_ack_pages_each_level_in_turn_then_says_nobody_acknowledged(
    server: Running, clock: FakeClock, people: dict[str, str]
) -> None:
    token = ingest_token(server, "events")
    fire(server, token)
    inc = incident(server)
    assert inc["commander"] == "dave"  # the level-1 person, a real user who may command
    assert inc["acknowledged_at"] is None
    assert not timeline(server, kind="commander_unassigned")
    assert [(p.level, p.users) for p in page_rows(server)] == [(1, ["dave"])]
    assert "Paged dave: level 1 of identity (identity-primary)" in timeline(server, kind="paged")[0]["text"]
    clock.advance(4 * 60 + 59)
    run_jobs(server)
    assert len(page_rows(server)) == 1  # not before the 5-minute timeout
    clock.advance(2)
    run_jobs(server)
    rows = page_rows(server)
    assert [p.level for p in rows] == [1, 2]
    assert rows[1].users in (["erin"], ["frank"]) and rows[1].schedule == "identity-secondary"
    run_jobs(server)  # running again changes nothing
    assert len(page_rows(server)) == 2
    clock.advance(5 * 60 + 1)
    run_jobs(server)
    assert len(page_rows(server)) == 2
    assert "all 2 levels of identity were paged" in timeline(server, kind="escalation_exhausted")[0]["text"]
    assert pager_actions(server) == [("trigger", 1), ("trigger", 2)]
    with server.admin() as c:
        pages = c.get("/api/v1/incidents/INC-1/pages").json()
    assert [(p["level"], p["schedule"], p["acknowledged_by"]) for p in pages] == [
        (1, "identity-primary", None),
        (2, "identity-secondary", None),
    ]
    with server.state.sessions() as s:  # nothing left to run
        assert not s.scalars(select(DueJob).where(DueJob.kind == "page_escalate", DueJob.done.is_(False))).all()


def test_acknowledging_stops_the_escalation_and_resolving_tells_the_pager(
    server: Running, clock: FakeClock, people: dict[str, str]
) -> None:
    token = ingest_token(server, "events")
    fire(server, token)
    clock.advance(5 * 60 + 1)
    run_jobs(server)  # level 2 paged
    clock.advance(60)
    with server.client(people["dave"]) as c:
        r = c.post("/api/v1/incidents/INC-1/acknowledge")
        assert r.status_code == 200, r.text
    assert incident(server)["acknowledged_at"] is not None
    clock.advance(30 * 60)
    run_jobs(server)
    rows = page_rows(server)
    assert [(p.level, p.acknowledged_by) for p in rows] == [(1, None), (2, "dave")]
    assert "Acknowledged by dave (level 2 paged)" in timeline(server, kind="acknowledged")[0]["text"]
    with server.state.sessions() as s:  # pages still waiting (the receiver was down) are handled: dropped
        rows = s.scalars(select(Notification).where(Notification.event == "page").order_by(Notification.id)).all()
        assert [(n.payload["action"], n.state) for n in rows] == [
            ("trigger", "obsolete"),
            ("trigger", "obsolete"),
            ("acknowledge", "pending"),
        ]
    assert not timeline(server, kind="escalation_exhausted")
    with server.client(people["dave"]) as c:
        assert c.post("/api/v1/incidents/INC-1/transitions", json={"to": "resolved"}).status_code == 200
    assert pager_actions(server) == [("acknowledge", 2), ("resolve", None), ("trigger", 1), ("trigger", 2)]


def test_lowering_the_priority_stops_the_escalation(server: Running, clock: FakeClock, people: dict[str, str]) -> None:
    token = ingest_token(server, "events")
    fire(server, token)
    with server.client(people["alice"]) as c:
        r = c.patch("/api/v1/incidents/INC-1", json={"priority": "P2"})
        assert r.status_code == 200, r.text
    assert incident(server)["acknowledged_at"] is None
    clock.advance(5 * 60 + 1)
    run_jobs(server)
    assert [p.level for p in page_rows(server)] == [1]  # a P2 only posts


def test_a_p2_posts_but_does_not_page(server: Running, clock: FakeClock, people: dict[str, str]) -> None:
    with server.client(people["alice"]) as c:
        r = c.post("/api/v1/incidents", json={"services": ["sis"], "priority": "P1", "severity": "SEV-2"})
        assert r.status_code == 201, r.text  # declared by a person: acknowledged by declaring, nobody paged
    token = ingest_token(server, "events")
    fire(server, token, key="tou", users=500, service="tou")  # P2: a prompt, no incident, no page
    clock.advance(10 * 60)
    run_jobs(server)
    assert page_rows(server) == [] and pager_actions(server) == []


def test_the_cli_and_the_web_acknowledge(
    server: Running, clock: FakeClock, people: dict[str, str], policy_data: dict[str, Any], db_url: str, tmp_path: Path
) -> None:
    token = ingest_token(server, "events")
    fire(server, token)
    fire(server, token, key="usip", service="usip")  # usip names no escalation policy: INC-2, not paged
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(policy_data))
    env = {"WARROOM_DATABASE_URL": db_url, "WARROOM_POLICY": str(path)}
    app = build_cli(REGISTRY, clock=FakeClock(T0 + timedelta(minutes=2)))
    assert "INC-1 acknowledged" in cli.ok("incident", "ack", "INC-1", "--as", "dave", env=env, app=app)
    assert page_rows(server)[0].acknowledged_by == "dave"
    assert "already acknowledged" in cli.ok("incident", "ack", "INC-1", "--as", "dave", env=env, app=app)
    assert incident(server, "INC-2")["commander"] == "identity-oncall"  # today's behaviour
    browser, csrf = login(server, make_web_user(server, "webby", "responder"))
    assert 'id="acknowledge"' in browser.get("/incidents/INC-2").text
    assert "L1 dave" in browser.get("/incidents/INC-1").text  # the room lists the levels paged
    r = browser.post("/incidents/INC-2/acknowledge", data={"csrf": csrf})
    assert r.status_code == 303, r.text
    assert 'id="acknowledge"' not in browser.get("/incidents/INC-2").text
    browser.close()
    assert incident(server, "INC-2")["acknowledged_at"] is not None
    assert [e["actor"] for e in timeline(server, "INC-2", kind="acknowledged")] == ["webby"]
