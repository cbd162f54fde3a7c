"""The on-call page in real Chromium: the 14-day strip with its gaps, and an override typed into the form."""

from __future__ import annotations

import re

import pytest

from tests.support.oncall import DAYTIME, PEOPLE, example_policy
from tests.support.server import Running
from tests.support.web import PASSWORD, make_web_user
from tests.test_web_browser import ARTIFACTS, browser  # noqa: F401 (the module skip and the shared fixture)
from warroom.policy import Policy

from playwright.sync_api import Browser, expect  # isort: skip (after the module skip above when chromium is missing)

pytestmark = pytest.mark.browser


@pytest.fixture
def policy() -> Policy:
    return example_policy({"schedules": {"daytime": DAYTIME}})


def test_the_fourteen_day_view_and_an_override(browser: Browser, server: Running) -> None:  # noqa: F811 (fixture)
    for handle in PEOPLE:
        make_web_user(server, handle)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        page.goto(server.url + "/login?next=/oncall")
        page.fill("#handle", "alice")
        page.fill("#password", PASSWORD)
        page.keyboard.press("Enter")
        expect(page.get_by_role("heading", name="On call", exact=True)).to_be_visible()
        daytime = page.locator("#schedule-daytime")
        expect(daytime.locator(".now-person")).to_have_text("erin")  # Monday 11:00 Berlin (the fake clock)
        strip = daytime.locator("svg.oncall-strip")
        expect(strip).to_be_visible()
        assert strip.locator("rect.gap").count() == 10 and strip.locator("rect.shift").count() == 11
        expect(daytime.locator(".gaps")).to_contain_text("10 gap(s) in the next 14 days")
        primary = page.locator("#schedule-identity-primary")
        expect(primary.locator(".now-person")).to_contain_text("dave")
        expect(primary.locator(".no-gaps")).to_be_visible()
        # bob covers the first night of the daytime schedule
        page.select_option("#o-schedule", "daytime")
        page.select_option("#o-user", "bob")
        page.fill("#o-start", "2026-10-05T17:00")
        page.fill("#o-end", "2026-10-06T09:00")
        page.click("#override-form button[type=submit]")
        expect(page.locator(".flash.ok")).to_contain_text("Override #1 saved")
        expect(page.locator("#schedule-daytime .gaps")).to_contain_text("9 gap(s)")
        assert page.locator('#schedule-daytime rect.shift[data-who="bob"]').count() == 1
        expect(page.locator("#override-list")).to_contain_text("2026-10-05 17:00")
        # an overlapping one is refused on the page, with what was typed kept
        page.select_option("#o-schedule", "daytime")
        page.fill("#o-start", "2026-10-05T20:00")
        page.fill("#o-end", "2026-10-05T21:00")
        page.click("#override-form button[type=submit]")
        expect(page.locator("#oncall-error")).to_contain_text("overlaps override #1")
        expect(page.locator("#o-start")).to_have_value("2026-10-05T20:00")
        ARTIFACTS.mkdir(exist_ok=True)
        page.goto(server.url + "/oncall")
        page.screenshot(path=str(ARTIFACTS / "oncall.png"), full_page=True)
        page.locator("#override-list button").first.click()
        expect(page.locator(".flash.ok")).to_contain_text("Override #1 removed")
        expect(page.locator("#schedule-daytime .gaps")).to_contain_text("10 gap(s)")
        assert not [e for e in errors if not re.search(r"status of 409", e)], errors
    finally:
        context.close()
