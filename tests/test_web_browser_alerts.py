"""Declaring from an alert on the dashboard, then detaching and attaching it in the room, in real
Chromium (issue 18 item 3); the failing-channel banner on the live dashboard (issue 18 item 8)."""

from __future__ import annotations

from typing import Any

from tests.support.alerts import ingest_token
from tests.support.http_fakes import Fault, SlackApiServer
from tests.support.notify import worker
from tests.support.server import Running
from tests.support.web import make_web_user
from tests.test_incident_alerts import fire
from tests.test_web_browser import ARTIFACTS, _kind, browser, tabs  # noqa: F401 (fixtures)
from warroom.core.clock import FakeClock

from playwright.sync_api import expect  # isort: skip (after the module skip above when chromium is missing)


def test_declare_from_an_alert_then_detach_and_attach(tabs: Any, server: Running, clock: FakeClock) -> None:  # noqa: F811
    token = ingest_token(server, "events")
    alert = fire(server, token, "b1", "tou", users=500, title="Terms of use 5xx")
    make_web_user(server, "alice")
    alice = tabs()
    page = alice.login("alice")
    row = page.locator("#dashboard tr", has_text="Terms of use 5xx")
    row.get_by_role("link", name="Declare").click()
    expect(page.locator("#from-alert")).to_contain_text(f"Declaring from alert {alert}: Terms of use 5xx")
    expect(page.get_by_label("Priority", exact=True)).to_have_value("P2")
    expect(page.get_by_label("Users affected per hour")).to_have_value("500")
    expect(page.get_by_label("Tier")).to_have_value("1")
    expect(page.locator("#svc-tou")).to_be_checked()
    page.get_by_role("button", name="Declare").click()
    expect(page).to_have_url(f"{alice.url}/incidents/INC-1")
    expect(page.locator("#alert-counts")).to_have_text("1 linked, 1 firing.")
    expect(page.locator("ol.timeline")).to_contain_text(f"Alert {alert} attached at declaration")
    page.get_by_role("button", name=f"Detach alert {alert}").click()
    expect(page.locator(".flash.ok")).to_have_text(f"Alert {alert} detached from INC-1.")
    expect(page.locator("#alerts-h + p.empty, section[aria-labelledby=alerts-h] .empty")).to_have_text(
        "No alerts linked."
    )
    page.get_by_label("Attach alerts (ids; an alert of another incident is moved here)").fill(str(alert))
    page.get_by_role("button", name="Attach", exact=True).click()
    expect(page.locator("#alert-counts")).to_have_text("1 linked, 1 firing.")
    expect(page.locator("ol.timeline")).to_contain_text(f"Alert {alert} attached by alice")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"alerts-attach-{_kind(server)}.png"), full_page=True)
    assert alice.errors == [], alice.errors


def test_failing_channel_banner_appears_on_the_live_dashboard(
    tabs: Any,  # noqa: F811
    server: Running,
    clock: FakeClock,
    db_url: str,
) -> None:
    make_web_user(server, "alice")
    server.state.settings.web_poll_seconds = 1
    alice = tabs()
    page = alice.login("alice")
    expect(page.locator("#channel-banner")).to_have_count(0)
    with SlackApiServer() as slack:
        w = worker(server.state.sessions, server.state.policy, clock, db_url, slack=slack)
        slack.fail_always(Fault.http(500))
        with server.admin() as c:
            c.post("/api/v1/incidents", json={"services": ["sis"], "priority": "P1", "severity": "SEV-1"})
        w.drain()
        expect(page.locator("#channel-banner")).to_contain_text("Notifications are not getting through")
        expect(page.locator("#channel-banner")).to_contain_text("HTTP 500")
        slack.clear()
        clock.advance(60)
        w.drain()
        expect(page.locator("#channel-banner")).to_have_count(0)
    assert alice.errors == [], alice.errors
