"""Paging reports (issue 21, second half): MTTA from the first page to the acknowledgement, pages per
person per month, acknowledgements by level, out-of-hours pages; API, CLI and the monthly Markdown,
both databases; the pure rules by hand."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support import cli
from tests.support.alerts import accepted, ingest_token, payload, run_jobs
from tests.support.oncall import PEOPLE, example_data
from tests.support.server import Running
from tests.support.web import login, make_web_user
from warroom.core.clock import FakeClock
from warroom.policy import Policy, parse_policy
from warroom.policy.integrations import WorkingHours
from warroom.reports.paging import PageFacts, out_of_hours, summarize

T0 = datetime(2026, 10, 5, 9, 0, tzinfo=UTC)  # a Monday
OCTOBER = {"from": "2026-10-01", "to": "2026-11-01"}


@pytest.fixture
def policy_data() -> dict[str, Any]:
    data = example_data()
    data["channels"] = {**data["channels"], "pager": {"type": "webhook", "url": "http://127.0.0.1:9/never"}}
    data["routes"] = {**data["routes"], "page": ["pager"]}
    return data


@pytest.fixture
def policy(policy_data: dict[str, Any]) -> Policy:
    return parse_policy(yaml.safe_dump(policy_data), "test policy")


def fire(server: Running, token: str, key: str, first_seen: datetime) -> None:
    body = payload("events_trigger")
    body["routing_key"], body["dedup_key"] = token, key
    body["payload"]["summary"] = f"sis errors {key}"
    body["payload"]["timestamp"] = first_seen.isoformat()
    body["payload"]["custom_details"] = {"service": "sis", "env": "prod", "users_per_hour": 5000}
    accepted(server, token, "events", body)


def post(server: Running, token: str, path: str, **body: Any) -> None:
    with server.client(token) as c:
        r = c.post(path, json=body or None)
        assert r.status_code == 200, r.text


def test_paging_figures_through_the_api_the_cli_and_the_monthly_report(
    server: Running, clock: FakeClock, make_user: Any, policy_data: dict[str, Any], db_url: str, tmp_path: Path
) -> None:
    people = {h: make_user(h, "responder") for h in PEOPLE}
    token = ingest_token(server, "events")
    fire(server, token, "a", first_seen=T0 - timedelta(minutes=10))  # the alert began 10 minutes before
    clock.advance(5 * 60 + 1)
    run_jobs(server)  # nobody acknowledged: level 2
    clock.advance(2 * 60)
    post(server, people["dave"], "/api/v1/incidents/INC-1/acknowledge")  # 7m01s after the first page
    post(server, people["dave"], "/api/v1/incidents/INC-1/transitions", to="resolved")
    clock.set(datetime(2026, 10, 10, 3, 0, tzinfo=UTC))  # Saturday night
    fire(server, token, "b", first_seen=clock.now())
    with server.admin() as c:
        inc2 = c.get("/api/v1/incidents/INC-2").json()
    night_person = inc2["commander"]
    assert night_person in ("alice", "bob", "carol")  # the weekly layer: dave covers weekdays only
    post(server, people[night_person], "/api/v1/incidents/INC-2/acknowledge")
    with server.admin() as c:
        got = c.get("/api/v1/reports/paging", params=OCTOBER).json()
        total = c.get("/api/v1/reports", params=OCTOBER).json()["total"]
        monthly = c.get("/api/v1/reports/monthly", params={"month": "2026-10"}).text
    assert got["incidents_paged"] == 2 and got["pages"] == 3
    assert got["out_of_hours_pages"] == 1  # Saturday 03:00 UTC; Monday 09:00 is in working hours
    assert got["acknowledged_by_level"] == {"1": 1, "2": 1} and got["unacknowledged"] == 0
    assert got["mtta_seconds"] == (421 + 0) / 2
    assert total["mtta_seconds"] == (421 + 0) / 2  # from the first page, not from the alert 10 minutes before
    level2 = [p for p in got["people"] if p["user"] in ("erin", "frank")]
    assert [(p["month"], p["pages"], p["out_of_hours"]) for p in level2] == [("2026-10", 1, 0)]
    assert {"user": "dave", "month": "2026-10", "pages": 1, "out_of_hours": 0} in got["people"]
    assert {"user": night_person, "month": "2026-10", "pages": 1, "out_of_hours": 1} in got["people"]
    assert "## Paging" in monthly and "**1** out of hours" in monthly and "level 1: 1, level 2: 1" in monthly
    web, _ = login(server, make_web_user(server, "viewer-vic", "viewer"))
    page = web.get("/reports", params={"from": "2026-10-01", "to": "2026-10-31"})
    empty = web.get("/reports", params={"from": "2026-09-01", "to": "2026-09-30"}).text
    web.close()
    assert page.status_code == 200, page.text
    assert re.search(r'id="paging-incidents">2<', page.text) and re.search(r'id="paging-pages">3<', page.text)
    assert re.search(r'id="paging-nights">1<', page.text)
    assert re.search(r'id="paging-mtta">3m 30s<', page.text), re.findall(r'id="paging-mtta">[^<]*', page.text)
    assert re.search(r'id="paging-levels">level 1: 1, level 2: 1<', page.text)
    assert f'<th scope="row">{night_person}</th><td>2026-10</td><td>1</td><td>1</td>' in page.text
    assert 'id="paging-none"' in empty and 'id="paging-figures"' not in empty
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(policy_data))
    env = {"WARROOM_DATABASE_URL": db_url, "WARROOM_POLICY": str(path)}
    text = cli.ok("report", "--month", "2026-10", "--paging", env=env)
    assert "Incidents paged: **2** (3 pages, **1** out of hours)" in text and "| dave | 2026-10 | 1 | 0 |" in text


def test_out_of_hours_and_summary_by_hand() -> None:
    berlin = WorkingHours(
        timezone="Europe/Berlin", days=["mon", "tue", "wed", "thu", "fri"], start="09:00", end="17:00"
    )
    assert not out_of_hours(datetime(2026, 10, 5, 7, 0, tzinfo=UTC), berlin)  # Monday 09:00 Berlin
    assert out_of_hours(datetime(2026, 10, 5, 6, 59, tzinfo=UTC), berlin)
    assert out_of_hours(datetime(2026, 10, 5, 15, 0, tzinfo=UTC), berlin)  # 17:00: the end is excluded
    assert out_of_hours(datetime(2026, 10, 10, 10, 0, tzinfo=UTC), berlin)  # a Saturday
    t = datetime(2026, 10, 31, 22, 0, tzinfo=UTC)  # Saturday night; November in Berlin, October in UTC
    pages = [
        PageFacts(1, 1, ("ann",), t, None),
        PageFacts(1, 2, (), t + timedelta(minutes=5), None),  # nobody on call: not a page
        PageFacts(1, 3, ("bo", "cy"), t + timedelta(minutes=5), t + timedelta(minutes=9)),
        PageFacts(2, 1, ("ann",), t + timedelta(days=1), None),
    ]
    got = summarize(pages, berlin)
    assert (got["incidents_paged"], got["pages"], got["out_of_hours_pages"]) == (2, 3, 3)
    assert got["acknowledged_by_level"] == {"3": 1} and got["unacknowledged"] == 1
    assert got["mtta_seconds"] == 540.0
    assert [(p["user"], p["month"], p["pages"]) for p in got["people"]] == [  # type: ignore[union-attr]
        ("ann", "2026-10", 1),
        ("bo", "2026-10", 1),
        ("cy", "2026-10", 1),
        ("ann", "2026-11", 1),
    ]
