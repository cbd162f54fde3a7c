"""An OOB deploy request and the Reports page in real Chromium, reusing the incident room's browser tabs."""

from __future__ import annotations

import re
from typing import Any

from tests.support.server import Running
from tests.support.web import make_web_user
from tests.test_web_browser import ARTIFACTS, _kind, browser, tabs  # noqa: F401 (fixtures)
from warroom.core.clock import FakeClock
from warroom.incidents import service as incidents
from warroom.incidents.schemas import IncidentCreate

from playwright.sync_api import expect  # isort: skip (after the module skip above when chromium is missing)


def _declare(server: Running, clock: FakeClock) -> str:
    with server.state.sessions.begin() as s:
        return incidents.declare(
            s,
            policy=server.state.policy,
            now=clock.now(),
            actor="alice",
            data=IncidentCreate(
                title="Sign-in down", services=["usip"], priority="P1", severity="SEV-1", commander="alice"
            ),
        ).ref


def test_oob_request_walk_and_reports(tabs: Any, server: Running, clock: FakeClock) -> None:  # noqa: F811
    make_web_user(server, "alice")
    ref = _declare(server, clock)
    alice = tabs()
    page = alice.login("alice")
    page.goto(f"{alice.url}/incidents/{ref}")
    expect(page.locator("#oob")).to_contain_text("No out-of-band deploy requests.")

    # Send an incomplete request: the page says what is missing and keeps what was typed.
    page.get_by_text("Open an out-of-band deploy request").click()
    page.get_by_label("Description of the change").fill("Revert the SAML change")
    page.get_by_label("Platform severity").select_option("critical")
    page.get_by_role("button", name="Save and send to the platform team").click()
    error = page.locator("#oob-error")
    expect(error).to_be_visible()
    expect(error).to_contain_text("the form is incomplete")
    expect(page.locator("#oob-missing")).to_contain_text("Related PR URLs")
    expect(page.locator("#oob-missing")).not_to_contain_text("Platform severity")
    expect(page.get_by_label("Description of the change")).to_have_value("Revert the SAML change")
    expect(page.get_by_label("Platform severity")).to_have_value("critical")
    expect(page.locator("#oob-state")).to_have_text("draft")
    # Chromium logs the page's own 422 status as a console error: that one is expected, nothing else.
    assert alice.errors == [
        "console: Failed to load resource: the server responded with a status of 422 (Unprocessable Entity)"
    ], alice.errors
    alice.errors.clear()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"oob-missing-{_kind(server)}.png"), full_page=True)

    # Complete it and send it.
    page.get_by_label(re.compile("^Related PR URLs")).fill("https://github.com/example/identity/pull/42")
    page.get_by_label("Active daily users, impacted now").fill("120000")
    page.get_by_label("Yes").check()
    page.get_by_label("Reason it cannot wait").fill("Nobody can sign in")
    page.get_by_label("Validation steps").fill("Signed in with a test account on a canary")
    page.get_by_label("Who validated the fix").fill("bob")
    page.get_by_label("this comes after the regular deploy cut-off").check()
    page.get_by_label("it is critical and cannot wait for the next regular deploy").check()
    page.get_by_label("I will write a postmortem within two business days").check()
    page.get_by_role("button", name="Save and send to the platform team").click()
    expect(page.locator(".flash.ok")).to_have_text("Sent to the platform team.")
    expect(page.locator("#oob-state")).to_have_text("requested")
    assert page.locator(".moves button").evaluate_all("bs => bs.map(b => b.dataset.to)") == [
        "approved",
        "rejected",
        "cancelled",
    ]

    # requested -> approved by someone else (separation of duties); tick the checklist; deployed; verified.
    make_web_user(server, "bob")
    bob = tabs().login("bob")
    bob.goto(page.url)
    bob.get_by_role("button", name="Approve").click()
    expect(bob.locator("#oob-state")).to_have_text("approved")
    page.reload()
    expect(page.locator("#oob-state")).to_have_text("approved")
    page.get_by_role("checkbox", name="Paging incident opened").check()
    page.get_by_role("checkbox", name="Engineering leadership acknowledged").check()
    page.get_by_label("Note for Engineering leadership acknowledged").fill("VP on the bridge")
    page.get_by_role("checkbox", name="Notice posted in the support and team channels").check()
    page.get_by_role("button", name="Save checklist").click()
    expect(page.locator(".flash.ok")).to_contain_text("Checklist saved")
    expect(page.locator("li[data-item=leadership_ack] .ticked")).to_have_text(
        re.compile(r"ticked by alice, 2026-10-05 09:00 UTC: VP on the bridge")
    )
    page.get_by_role("button", name="Mark deployed").click()
    expect(page.locator("#oob-state")).to_have_text("deployed")
    page.get_by_role("button", name="Mark verified in production").click()
    expect(page.locator("#oob-state")).to_have_text("verified")
    assert page.locator(".moves button").count() == 0
    page.screenshot(path=str(ARTIFACTS / f"oob-{_kind(server)}.png"), full_page=True)
    page.get_by_role("link", name=ref).first.click()
    expect(page.locator("#oob-list")).to_contain_text("verified")

    # Reports: October so far, by priority; figures, charts, CSV.
    page.get_by_role("link", name="Reports").click()
    page.get_by_label("From (UTC day)").fill("2026-10-01")
    page.get_by_label("To (included)").fill("2026-10-31")
    page.get_by_label("Group by").select_option("priority")
    page.get_by_role("button", name="Show").click()
    p1 = page.locator("#report-table tbody tr", has_text="P1")
    expect(p1.locator("td").first).to_have_text("1")
    expect(p1.locator("td").last).to_have_text("1")  # OOB deploys
    expect(page.locator("figure.chart svg")).to_have_count(5)
    expect(page.locator("figure.chart svg").first).to_have_attribute("aria-label", "Incidents declared by priority")
    with page.expect_download() as info:
        page.locator("#download-csv").click()
    body = info.value.path().read_text(encoding="utf-8")
    assert body.splitlines()[0].startswith("key,incidents,") and body.splitlines()[1].startswith("P1,1,"), body
    assert info.value.suggested_filename == "warroom-report-2026-10-01-to-2026-10-31-by-priority.csv"
    page.screenshot(path=str(ARTIFACTS / f"reports-{_kind(server)}.png"), full_page=True)
    assert alice.errors == [], alice.errors


def test_oob_and_reports_fit_a_phone(tabs: Any, server: Running, clock: FakeClock) -> None:  # noqa: F811
    make_web_user(server, "alice")
    ref = _declare(server, clock)
    tab = tabs(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = tab.login("alice")
    page.goto(f"{tab.url}/incidents/{ref}")
    page.get_by_text("Open an out-of-band deploy request").click()
    page.get_by_role("button", name="Save as draft").click()
    expect(page.locator("#oob-state")).to_have_text("draft")
    for path in (page.url.removeprefix(tab.url), "/reports?from=2026-10-01&to=2026-10-31"):
        page.goto(tab.url + path)
        overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, f"{path} is {overflow}px wider than the phone screen"
    assert tab.errors == []
