"""The incident room in real Chromium (Debian's /usr/bin/chromium, headless) against a live warroom."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import IN_CI
from tests.support.server import Running
from tests.support.web import PASSWORD, make_web_user
from warroom.core.clock import FakeClock
from warroom.incidents import service as incidents
from warroom.incidents.schemas import IncidentCreate

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
pytestmark = pytest.mark.browser

if not os.path.exists(CHROMIUM):
    if IN_CI:
        raise RuntimeError(f"CI requires {CHROMIUM}: .ci/run installs Debian's chromium package")
    pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium); browser tests skipped", allow_module_level=True)

from playwright.sync_api import Browser, Page, expect, sync_playwright  # noqa: E402


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as pw:
        b = pw.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield b
        b.close()


ABORT_NOISE = ("htmx:sendAbort", "htmx:afterRequest")


class Tab:
    """A browser context for one user, recording every console error and page error."""

    def __init__(self, browser: Browser, server: Running, **kw: Any) -> None:
        self.context = browser.new_context(**kw)
        self.context.set_default_timeout(10_000)
        self.page: Page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))
        self.dialogs: list[str] = []
        self.page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        self.url = server.url

    def _console(self, m: Any) -> None:
        # htmx 2 logs an aborted request (a poll cut short by navigation, hx-sync replace) as an
        # error; that is the browser leaving, not a fault. Server and network errors still count.
        if m.type == "error" and not m.text.startswith(ABORT_NOISE):
            self.errors.append(f"console: {m.text}")

    def go(self, path: str) -> Page:
        self.page.goto(self.url + path)
        return self.page

    def login(self, handle: str) -> Page:
        """By keyboard only: the form must be usable without a mouse."""
        page = self.go("/")
        expect(page).to_have_url(re.compile(r"/login\?next="))
        expect(page.locator("#handle")).to_be_focused()
        page.keyboard.type(handle)
        page.keyboard.press("Tab")
        expect(page.locator("#password")).to_be_focused()
        page.keyboard.type(PASSWORD)
        page.keyboard.press("Enter")
        expect(page.get_by_role("heading", name="What is burning")).to_be_visible()
        return page

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def tabs(browser: Browser, server: Running) -> Iterator[Any]:
    opened: list[Tab] = []

    def open_tab(**kw: Any) -> Tab:
        tab = Tab(browser, server, **kw)
        opened.append(tab)
        return tab

    yield open_tab
    for tab in opened:
        tab.close()


def _kind(server: Running) -> str:
    return "postgres" if "postgresql" in str(server.state.engine.url) else "sqlite"


def _timeline_texts(page: Page) -> list[str]:
    return page.locator("ol.timeline > li .text").all_inner_texts()


def test_incident_lifecycle_in_the_browser(tabs: Any, server: Running, clock: FakeClock) -> None:
    make_web_user(server, "alice")
    make_web_user(server, "bob")
    server.state.settings.web_poll_seconds = 1
    alice = tabs()
    page = alice.login("alice")

    # Declare a P1 from the form with the priority helper.
    page.get_by_role("link", name="Declare").click()
    page.get_by_label("Tier").select_option("1")
    page.get_by_label("Users affected per hour").fill("5000")
    expect(page.locator("#priority-result")).to_contain_text("matrix-t1-gt1000")
    expect(page.locator("#priority")).to_have_value("P1")
    page.get_by_label("Users affected per hour").fill("")
    page.get_by_label("Tier").select_option("2")
    page.get_by_label("Unknown, firing for 15 minutes or more").check()
    expect(page.locator("#priority-result")).to_contain_text("unknown-impact-t2-matrix")
    expect(page.locator("#priority")).to_have_value("P2")
    page.get_by_label("Tier").select_option("1")
    expect(page.locator("#priority-result")).to_contain_text("unknown-impact-t1")
    expect(page.locator("#priority")).to_have_value("P1")
    expect(page.locator("label[for=sev-SEV-1]")).to_contain_text("Users cannot authenticate at all")
    page.get_by_label("Unified sign-in page (usip)").check()
    expect(page.get_by_label("Title")).to_have_value("Unified sign-in page is experiencing degraded service")
    expect(page.get_by_label("Commander")).to_have_value("alice")
    page.get_by_label(re.compile(r"^SEV-1 Total outage")).check()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"declare-{_kind(server)}.png"), full_page=True)
    page.get_by_role("button", name="Declare").click()
    expect(page).to_have_url(re.compile(r"/incidents/INC-\d+$"))
    ref = page.url.rsplit("/", 1)[1]
    expect(page.locator("#incident-title")).to_have_text("Unified sign-in page is experiencing degraded service")
    expect(page.locator(".facts")).to_contain_text("P1")
    expect(page.locator("ol.timeline")).to_contain_text("by rule unknown-impact-t1")
    declared_at = clock.now()

    # A back-dated note lands before the declaration, in true order.
    page.get_by_label("Add a note").fill("Error rate started climbing")
    back_then = (declared_at - timedelta(minutes=20)).strftime("%Y-%m-%dT%H:%M")
    page.get_by_label(re.compile("When it happened")).fill(back_then)
    page.get_by_role("button", name="Add note").click()
    expect(page.locator(".flash.ok")).to_have_text("Note added.")
    texts = _timeline_texts(page)
    note = texts.index("Error rate started climbing")
    assert note < next(i for i, t in enumerate(texts) if t.startswith("Incident declared")), texts
    expect(page.locator("ol.timeline > li").nth(note).locator("time")).to_contain_text("08:40")

    # The countdown turns amber once the reminder has gone out, red when overdue.
    countdown = page.locator("#next-update .due")
    expect(countdown).to_have_class(re.compile(r"\bok\b"))
    clock.advance(timedelta(minutes=26))
    page.reload()
    expect(countdown).to_have_class(re.compile(r"\bsoon\b"))
    expect(countdown).to_contain_text("due in 3m")
    clock.advance(timedelta(minutes=5))
    page.reload()
    expect(countdown).to_have_class(re.compile(r"\boverdue\b"))

    # Post the prefilled draft; the countdown resets to a full cadence.
    draft = page.get_by_label(re.compile("^Message"))
    expect(draft).to_have_value(re.compile(r"Error rate started climbing"))
    draft.fill(draft.input_value() + "\nNext steps: failing over to the secondary.")
    page.get_by_role("button", name="Post update").click()
    expect(page.locator(".flash.ok")).to_have_text("Status update posted.")
    expect(countdown).to_have_class(re.compile(r"\bok\b"))
    expect(countdown).to_contain_text(re.compile(r"due in (30m 00s|29m \d\ds)"))
    assert countdown.get_attribute("data-due") == (clock.now() + timedelta(minutes=30)).isoformat()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"incident-{_kind(server)}.png"), full_page=True)

    # The dashboard lists it and refreshes by htmx polling, without a full reload.
    page.get_by_role("link", name="Dashboard").click()
    row = page.locator("#dashboard tr", has_text=ref)
    expect(row).to_contain_text("active")
    expect(row.locator(".due")).to_have_class(re.compile(r"\bok\b"))
    page.evaluate("window.__stillHere = true")
    with server.state.sessions.begin() as s:
        incidents.declare(
            s,
            policy=server.state.policy,
            now=clock.now(),
            actor="bob",
            data=IncidentCreate(title="Terms of use page slow", services=["tou"], priority="P3", severity="SEV-4"),
        )
    expect(page.locator("#dashboard")).to_contain_text("Terms of use page slow", timeout=8000)
    assert page.evaluate("window.__stillHere") is True
    page.screenshot(path=str(ARTIFACTS / f"dashboard-{_kind(server)}.png"), full_page=True)

    # Resolve; only legal moves are offered and the page says what completion still needs.
    page.goto(f"{alice.url}/incidents/{ref}")
    moves = page.locator(".moves button").all_inner_texts()
    assert moves == ["Mark stable", "Resolve"], moves
    page.get_by_role("button", name="Resolve").click()
    expect(page.locator("#incident-state")).to_have_text("resolved")
    assert page.locator(".moves button").all_inner_texts() == ["Mark active (reopen)", "Complete"]
    expect(page.locator("#completion-missing")).to_contain_text("users impacted")

    # Fill the overview and a role.
    page.get_by_text("Edit fields and roles").click()
    page.get_by_label("Users impacted").fill("1200")
    page.get_by_label("Impacts", exact=True).fill("Sign-in failed for about 1,200 users per hour")
    page.get_by_label("Detection method").fill("Datadog monitor")
    page.get_by_label("Technical lead").fill("carol")
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".flash.ok")).to_have_text("Saved.")
    expect(page.locator(".facts")).to_contain_text("carol")
    expect(page.locator("#completion-missing")).to_contain_text("postmortem")

    # Open the postmortem (rendered Markdown), edit it, download link present.
    page.get_by_role("link", name="Open the postmortem").click()
    expect(page.locator("#postmortem h1")).to_be_visible()
    expect(page.locator("#download")).to_have_attribute("href", f"/incidents/{ref}/postmortem.md")
    page.get_by_text("Edit the postmortem").click()
    page.get_by_label("Markdown").fill("# Postmortem\n\n## Root cause\n\nA bad deploy of **usip**.\n")
    page.get_by_role("button", name=re.compile("Save as version")).click()
    expect(page.locator("#postmortem strong")).to_have_text("usip")

    # A non-commander is refused; the commander completes.
    bob = tabs()
    bob_page = bob.login("bob")
    bob_page.goto(f"{bob.url}/incidents/{ref}")
    bob_page.get_by_role("button", name="Complete").click()
    expect(bob_page.locator(".flash.error")).to_contain_text("only the commander (alice) can complete")
    expect(bob_page.locator("#incident-state")).to_have_text("resolved")
    page.goto(f"{alice.url}/incidents/{ref}")
    page.get_by_role("button", name="Complete").click()
    expect(page.locator("#incident-state")).to_have_text("completed")
    assert page.locator("main form").count() == 0

    assert alice.errors == [] and bob.errors == [], alice.errors + bob.errors


def test_viewer_sees_no_edit_controls_and_is_refused(tabs: Any, server: Running, clock: FakeClock) -> None:
    make_web_user(server, "victor", role="viewer")
    make_web_user(server, "alice")  # the commander is a warroom user
    with server.state.sessions.begin() as s:
        ref = incidents.declare(
            s,
            policy=server.state.policy,
            now=clock.now(),
            actor="alice",
            data=IncidentCreate(title="Sign-in down", services=["usip"], priority="P1", severity="SEV-1"),
        ).ref
    victor = tabs()
    page = victor.login("victor")
    expect(page.locator("nav")).not_to_contain_text("Declare")
    for path in ("/", f"/incidents/{ref}", f"/incidents/{ref}/postmortem", "/notifications/dead", "/incidents"):
        page.goto(victor.url + path)
        assert page.locator("main form[method=post]").count() == 0, path
        assert page.locator("main textarea, main button").count() == 0 or path == "/incidents", path
    token = page.locator("header form input[name=csrf]").get_attribute("value")
    r = page.request.post(
        f"{victor.url}/incidents/{ref}/notes", form={"text": "sneaky", "csrf": token or ""}, max_redirects=0
    )
    assert r.status == 403 and "responder role" in r.text()
    assert victor.errors == []


def test_script_title_is_shown_as_text(tabs: Any, server: Running, clock: FakeClock) -> None:
    make_web_user(server, "alice")
    evil = "<script>alert(1)</script>"
    with server.state.sessions.begin() as s:
        ref = incidents.declare(
            s,
            policy=server.state.policy,
            now=clock.now(),
            actor="alice",
            data=IncidentCreate(title=evil, services=["usip"], priority="P1", severity="SEV-1"),
        ).ref
    tab = tabs()
    page = tab.login("alice")
    expect(page.locator("#dashboard")).to_contain_text(evil)
    page.goto(f"{tab.url}/incidents/{ref}")
    expect(page.locator("#incident-title")).to_have_text(evil)
    page.goto(f"{tab.url}/incidents")
    expect(page.locator("#incident-list")).to_contain_text(evil)
    assert tab.dialogs == [] and tab.errors == []


def test_form_without_csrf_token_is_refused(tabs: Any, server: Running, clock: FakeClock) -> None:
    make_web_user(server, "alice")
    with server.state.sessions.begin() as s:
        ref = incidents.declare(
            s,
            policy=server.state.policy,
            now=clock.now(),
            actor="alice",
            data=IncidentCreate(title="Sign-in down", services=["usip"], priority="P1", severity="SEV-1"),
        ).ref
    tab = tabs()
    page = tab.login("alice")
    page.goto(f"{tab.url}/incidents/{ref}")
    page.evaluate("document.querySelector('form.note input[name=csrf]').remove()")
    page.get_by_label("Add a note").fill("forged note")
    with page.expect_response(lambda r: r.url.endswith(f"/incidents/{ref}/notes")) as info:
        page.get_by_role("button", name="Add note").click()
    assert info.value.status == 403
    expect(page.locator("body")).to_contain_text("CSRF")
    page.goto(f"{tab.url}/incidents/{ref}")
    expect(page.locator("ol.timeline")).not_to_contain_text("forged note")


def test_phone_screen_and_keyboard_only(tabs: Any, server: Running, clock: FakeClock) -> None:
    make_web_user(server, "alice")
    with server.state.sessions.begin() as s:
        ref = incidents.declare(
            s,
            policy=server.state.policy,
            now=clock.now(),
            actor="alice",
            data=IncidentCreate(
                title="A rather long incident title that has to wrap on a small phone screen without overflowing",
                services=["usip", "csp"],
                priority="P1",
                severity="SEV-1",
            ),
        ).ref
    tab = tabs(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = tab.login("alice")
    for path in ("/", f"/incidents/{ref}", "/incidents/new", "/incidents", "/policy", "/alerts"):
        page.goto(tab.url + path)
        overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, f"{path} is {overflow}px wider than the phone screen"
    ARTIFACTS.mkdir(exist_ok=True)
    page.goto(f"{tab.url}/incidents/{ref}")
    page.screenshot(path=str(ARTIFACTS / f"incident-phone-{_kind(server)}.png"), full_page=True)
    # Keyboard only: the first Tab reaches the skip link; tabbing on reaches the Resolve button.
    page.keyboard.press("Tab")
    expect(page.locator("a.skip")).to_be_focused()
    for _ in range(80):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.dataset.to") == "resolved":
            break
    else:
        pytest.fail("the Resolve button cannot be reached with Tab")
    page.keyboard.press("Enter")
    expect(page.locator("#incident-state")).to_have_text("resolved")
    assert tab.errors == []
