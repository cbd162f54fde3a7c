"""The `pagerduty` channel (issue 21, second half): Events API v2 trigger, acknowledge and resolve with
one dedup_key per incident, through a real worker to a local fake PagerDuty (429, 5xx, 401, 400 on
demand); the paged person's e-mail; bad configuration refused at `warroom policy check`. Both databases."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from sqlalchemy import select

from tests.support import cli
from tests.support.alerts import accepted, ingest_token, payload
from tests.support.http_fakes import Fault
from tests.support.oncall import PEOPLE, doc_blocks, example_data, merged
from tests.support.oncall_fakes import PagerDutyApi
from tests.support.server import Running
from tests.support.smtp_fake import SmtpServer
from tests.support.wired import HOOKS, JOBS
from warroom.core.clock import FakeClock
from warroom.core.settings import Settings
from warroom.notifications.models import Notification
from warroom.policy import Policy, PolicyError, parse_policy
from warroom.worker import Worker

KEY = "0123456789abcdef0123456789abcdef"  # an Events API v2 integration key is 32 characters
FAST = {"backoff_base": "1s", "backoff_max": "10s", "jitter": 0, "timeout": "2s", "lease": "5s"}


def paging_data(**channels: Any) -> dict[str, Any]:
    data = example_data()
    data["channels"] = {**data["channels"], "pd": {"type": "pagerduty", "routing_key": KEY}, **channels}
    data["routes"] = {**data["routes"], "page": ["pd", *channels]}
    data["notifications"] = {**data.get("notifications", {}), **FAST}
    return data


@pytest.fixture
def pd() -> Iterator[PagerDutyApi]:
    with PagerDutyApi() as server:
        yield server


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with SmtpServer() as server:
        yield server


@pytest.fixture
def policy(smtp: SmtpServer) -> Policy:
    data = paging_data(mail={"type": "email", "to": ["oncall-list@example.com"]})
    return parse_policy(yaml.safe_dump(data), "test policy")


@pytest.fixture
def people(server: Running, make_user: Any) -> dict[str, str]:
    return {h: make_user(h, "responder", email=f"{h}@example.com") for h in PEOPLE}


def worker(server: Running, pd: PagerDutyApi, smtp: SmtpServer, db_url: str) -> Worker:
    settings = Settings(database_url=db_url, pagerduty_events_url=pd.base, smtp_host=smtp.host, smtp_port=smtp.port)  # type: ignore[call-arg]
    state = server.state
    return Worker(state.sessions, settings=settings, policy=state.policy, clock=state.clock, jobs=JOBS, hooks=HOOKS)


def fire(server: Running) -> None:
    token = ingest_token(server, "events")
    body = payload("events_trigger")
    body["routing_key"], body["dedup_key"] = token, "sis-5xx"
    body["payload"]["summary"] = "sis errors <b>&"
    body["payload"]["custom_details"] = {"service": "sis", "env": "prod", "users_per_hour": 5000}
    accepted(server, token, "events", body)


def pd_rows(server: Running) -> list[Notification]:
    with server.state.sessions() as s:
        return list(s.scalars(select(Notification).where(Notification.channel == "pd").order_by(Notification.id)))


def test_trigger_acknowledge_resolve_share_one_dedup_key_and_the_paged_person_gets_mail(
    server: Running, clock: FakeClock, people: dict[str, str], pd: PagerDutyApi, smtp: SmtpServer, db_url: str
) -> None:
    fire(server)
    w = worker(server, pd, smtp, db_url)
    w.drain()
    assert len(pd.events) == 1
    trigger = pd.events[0]
    assert trigger["routing_key"] == KEY and trigger["event_action"] == "trigger"
    assert trigger["dedup_key"] == "warroom-INC-1"
    body = trigger["payload"]
    assert body["severity"] == "critical" and body["source"] == "warroom" and body["component"] == "sis"
    assert "Paging @dave" in body["summary"] and "level 1 of identity" in body["summary"]
    assert body["custom_details"]["paged"] == ["dave"] and body["custom_details"]["level"] == 1
    assert trigger["links"][0]["href"].endswith("/incidents/INC-1")
    assert pd_rows(server)[0].external_id == "warroom-INC-1"
    assert smtp.wait_for(1)
    assert set(smtp.envelopes[0][1]) == {"oncall-list@example.com", "dave@example.com"}
    with server.client(people["dave"]) as c:
        assert c.post("/api/v1/incidents/INC-1/acknowledge").status_code == 200
        assert c.post("/api/v1/incidents/INC-1/transitions", json={"to": "resolved"}).status_code == 200
    w.drain()
    assert [(e["event_action"], e["dedup_key"]) for e in pd.events] == [
        ("trigger", "warroom-INC-1"),
        ("acknowledge", "warroom-INC-1"),
        ("resolve", "warroom-INC-1"),
    ]
    assert "payload" not in pd.events[1] and "payload" not in pd.events[2]
    assert len(smtp.messages) == 1  # acknowledge and resolve go to the pager only


def test_429_and_5xx_are_retried_until_the_page_is_delivered(
    server: Running, clock: FakeClock, people: dict[str, str], pd: PagerDutyApi, smtp: SmtpServer, db_url: str
) -> None:
    pd.fail_next(Fault.http(429, retry_after=7), Fault.http(502), Fault.http(503))
    fire(server)
    w = worker(server, pd, smtp, db_url)
    w.drain()
    row = pd_rows(server)[0]
    assert row.state == "pending" and "rate limit (HTTP 429)" in (row.last_error or "")
    clock.advance(6)
    w.drain()
    assert pd.events == []  # Retry-After: 7 is honoured
    for _ in range(3):
        clock.advance(11)
        w.drain()
    assert [e["event_action"] for e in pd.events] == ["trigger"]
    assert pd_rows(server)[0].state == "sent"


def test_a_refused_routing_key_keeps_the_page_until_it_is_fixed_and_an_invalid_event_is_dead(
    server: Running, clock: FakeClock, people: dict[str, str], pd: PagerDutyApi, smtp: SmtpServer, db_url: str
) -> None:
    pd.fail_always(Fault.http(401, body='{"status": "unauthorized"}'))
    fire(server)
    w = worker(server, pd, smtp, db_url)
    for _ in range(4):
        w.drain()
        clock.advance(11)
    row = pd_rows(server)[0]
    assert row.state == "pending" and "refused the routing key (HTTP 401)" in (row.last_error or "")
    with server.admin() as c:
        failing = c.get("/healthz").json()["checks"]["notification_channels_failing"]
        assert "refused the routing key" in failing["pd"]["last_error"]  # the UI banner and /healthz say it
    pd.clear()
    w.drain()
    assert [e["event_action"] for e in pd.events] == ["trigger"]  # not lost
    pd.fail_next(Fault(status=400, body='{"status": "invalid event", "errors": ["bad"]}'))
    with server.client(people["dave"]) as c:
        assert c.post("/api/v1/incidents/INC-1/acknowledge").status_code == 200
    w.drain()
    row = pd_rows(server)[-1]
    assert row.state == "dead" and "invalid event (HTTP 400)" in (row.last_error or "")


def test_bad_pagerduty_configuration_is_refused_by_policy_check(tmp_path: Any, monkeypatch: Any) -> None:
    monkeypatch.delenv("PD_ROUTING_KEY", raising=False)
    data = paging_data()
    data["channels"]["pd"]["routing_key"] = "${PD_ROUTING_KEY}"
    with pytest.raises(PolicyError, match="a pagerduty channel needs 'routing_key'"):
        parse_policy(yaml.safe_dump(data), "p")
    data = paging_data()
    data["routes"]["declared"] = ["support", "pd"]
    with pytest.raises(PolicyError, match="only takes the `page` event"):
        parse_policy(yaml.safe_dump(data), "p")
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(data))
    ran = cli.warroom("policy", "check", str(path), env={})
    assert ran.returncode != 0 and "only takes the `page` event" in ran.stdout + ran.stderr
    monkeypatch.setenv("PD_ROUTING_KEY", KEY)
    data = paging_data()
    data["channels"]["pd"]["routing_key"] = "${PD_ROUTING_KEY}"
    shown = parse_policy(yaml.safe_dump(data), "p").public_dict()["channels"]["pd"]
    assert shown["routing_key"] == "***"


def test_the_docs_paging_block_loads_into_the_reference_and_pages_p1_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAGERDUTY_ROUTING_KEY", KEY)
    block = next(b for b in doc_blocks("yaml") if "type: pagerduty" in b)
    p = parse_policy(yaml.safe_dump(merged(yaml.safe_load(doc_blocks("yaml")[0]), yaml.safe_load(block))), "docs")
    assert p.channels["pd"].routing_key == KEY and p.routes["page"] == ["support", "pd", "oncall-mail"]
    assert p.paging.priorities == ["P1"] and p.service("sis").escalation_policy == "identity"  # type: ignore[union-attr]
