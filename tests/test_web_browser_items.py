"""Web fixes seen in real Chromium: alert links, stale edits, the status page's style, long titles, /docs offline."""

from __future__ import annotations

import re
from typing import Any

from tests.support.alert_rows import add_alert
from tests.support.server import Running
from tests.support.web import make_web_user
from tests.test_web_browser import ARTIFACTS, _kind, browser, tabs  # noqa: F401 (fixtures)
from warroom.alerts.models import Alert
from warroom.core.clock import FakeClock
from warroom.incidents import service as incidents
from warroom.incidents.schemas import IncidentCreate
from warroom.notifications.models import Notification

from playwright.sync_api import expect  # isort: skip (after the module skip above when chromium is missing)

LINKS = {
    "https://grafana.example/d/abc?from=now-1h": True,
    "javascript:alert(document.domain)": False,
    "JaVaScRiPt:alert(2)": False,
    " javascript:alert(3)": False,
    "data:text/html,<script>alert(4)</script>": False,
    "vbscript:msgbox(5)": False,
    "//evil.example/x": False,
}


def _declare(server: Running, clock: FakeClock, title: str = "Sign-in down") -> str:
    make_web_user(server, "alice")  # the commander is a real user
    with server.state.sessions.begin() as s:
        return incidents.declare(
            s,
            policy=server.state.policy,
            now=clock.now(),
            actor="alice",
            data=IncidentCreate(title=title, services=["usip"], priority="P1", severity="SEV-1", commander="alice"),
        ).ref


def test_alert_links_are_http_only_elsewhere_plain_text(tabs: Any, server: Running, clock: FakeClock) -> None:  # noqa: F811
    """Issue 19 item 9: a javascript: link from an alert must never be a link in the room."""
    make_web_user(server, "alice")
    ref = _declare(server, clock)
    number = incidents.parse_ref(ref)
    for link in LINKS:
        alert_id = add_alert(server.state.sessions, service="usip", at=clock.now(), incident_id=number)
        with server.state.sessions.begin() as s:
            s.get(Alert, alert_id).link = link  # type: ignore[union-attr]
    with server.admin() as c:  # the API keeps the raw value
        listed = c.get("/api/v1/alerts", params={"incident": ref}).json()["items"]
        assert sorted(a["link"] for a in listed) == sorted(LINKS)
    tab = tabs()
    page = tab.login("alice")
    page.goto(f"{tab.url}/incidents/{ref}")
    anchors = page.locator("ul.alerts a")
    expect(anchors).to_have_count(1)
    assert anchors.first.get_attribute("href") == "https://grafana.example/d/abc?from=now-1h"
    hrefs = page.eval_on_selector_all("a[href]", "els => els.map(e => e.getAttribute('href'))")
    assert not [h for h in hrefs if not h.startswith(("/", "#", "http://", "https://"))], hrefs
    shown = page.locator("ul.alerts .alert-link-text").all_inner_texts()
    assert sorted(t.removeprefix("source: ") for t in shown) == sorted(
        k.strip() for k, ok in LINKS.items() if not ok
    ), shown
    assert tab.dialogs == [] and tab.errors == []


def test_a_stale_edit_form_is_refused_and_saves_only_what_changed(
    tabs: Any,  # noqa: F811
    server: Running,
    clock: FakeClock,
) -> None:
    """Issue 18 item 5: Alice opens "Edit fields and roles", Bob PATCHes severity, impacts and users, Alice
    saves a sub-service. Before: severity went back to SEV-2, impacts and users were emptied, and Slack was
    told "severity changed SEV-1 -> SEV-2 by alice"."""
    make_web_user(server, "alice")
    with server.state.sessions.begin() as s:
        ref = incidents.declare(
            s,
            policy=server.state.policy,
            now=clock.now(),
            actor="alice",
            data=IncidentCreate(title="Sign-in slow", services=["usip"], priority="P2", severity="SEV-2"),
        ).ref
    tab = tabs()
    page = tab.login("alice")
    page.goto(f"{tab.url}/incidents/{ref}")
    page.get_by_text("Edit fields and roles").click()
    expect(page.get_by_label("Severity", exact=True)).to_have_value("SEV-2")

    with server.admin() as c:  # Bob, meanwhile
        r = c.patch(
            f"/api/v1/incidents/{ref}",
            json={"severity": "SEV-1", "impacts": "Nobody can sign in", "users_impacted": 40000},
        )
        assert r.status_code == 200, r.text

    page.get_by_label("Sub-services").fill("login.gov")
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".flash.error")).to_contain_text("changed since you loaded it")
    expect(page.locator(".flash.error")).to_contain_text("severity, users impacted, impacts")
    with server.admin() as c:
        now = c.get(f"/api/v1/incidents/{ref}").json()
    assert (now["severity"], now["impacts"], now["users_impacted"], now["sub_services"]) == (
        "SEV-1",
        "Nobody can sign in",
        40000,
        None,
    )
    # The refused page shows the current record; saving from it changes only the sub-service.
    expect(page.locator(".facts")).to_contain_text("SEV-1")
    page.get_by_text("Edit fields and roles").click()
    expect(page.get_by_label("Severity", exact=True)).to_have_value("SEV-1")
    page.get_by_label("Sub-services").fill("login.gov")
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".flash.ok")).to_have_text("Saved.")
    with server.admin() as c:
        now = c.get(f"/api/v1/incidents/{ref}").json()
        timeline = c.get(f"/api/v1/incidents/{ref}/timeline").json()["items"]
    assert (now["severity"], now["impacts"], now["users_impacted"], now["sub_services"]) == (
        "SEV-1",
        "Nobody can sign in",
        40000,
        "login.gov",
    )
    alice_did = [(e["kind"], e["text"]) for e in timeline if e["actor"] == "alice" and e["kind"] != "declared"]
    assert alice_did == [("edited", "Edited sub_services")], alice_did
    with server.state.sessions() as s:
        texts = [n.text for n in s.query(Notification)]
    assert not [t for t in texts if "by alice" in t and "severity" in t], texts
    assert [e for e in tab.errors if "status of 409" not in e] == []  # the refused save's page is a 409


def test_status_page_is_styled_under_our_csp(tabs: Any, server: Running, clock: FakeClock) -> None:  # noqa: F811
    """Issue 18 item 13: the inline <style> was blocked by our CSP (no colours, no banner)."""
    _declare(server, clock, title="Sign-in errors")
    tab = tabs()
    page = tab.go("/status")
    banner = page.locator(".banner")
    expect(banner).to_have_text("Some services are experiencing an outage.")
    colour = banner.evaluate("e => getComputedStyle(e).backgroundColor")
    assert colour == "rgb(253, 231, 231)", colour  # .outage's background from /static/status.css
    pill = page.locator(".pill.operational").first
    assert pill.evaluate("e => getComputedStyle(e).borderRadius") != "0px"
    assert "style-src 'self'" in (page.request.get(f"{tab.url}/status").headers["content-security-policy"])
    assert tab.errors == [], tab.errors  # a CSP refusal is a console error
    page.screenshot(path=str(ARTIFACTS / f"status-{_kind(server)}.png"))


def test_a_long_title_without_spaces_keeps_the_columns_on_screen(
    tabs: Any,  # noqa: F811
    server: Running,
    clock: FakeClock,
) -> None:
    """Issue 18 item 14: a 490-character title with no spaces pushed every dashboard column off-screen."""
    make_web_user(server, "alice")
    long_title = "SignInFailing" + "x" * 469 + "-THE-END"
    assert len(long_title) == 490
    ref = _declare(server, clock, title=long_title)
    alert_id = add_alert(server.state.sessions, service="csp", at=clock.now())
    with server.state.sessions.begin() as s:
        s.get(Alert, alert_id).title = "AlertFiring" + "y" * 480  # type: ignore[union-attr]
    for width, height in ((1280, 800), (390, 844)):
        tab = tabs(viewport={"width": width, "height": height})
        page = tab.login("alice")
        for path, table in (("/", "#open-h + .scroll table"), ("/incidents", "table#incident-list")):
            page.goto(tab.url + path)
            title = page.locator(f"{table} .title").first
            expect(title).to_have_attribute("title", long_title)  # the full title on hover
            cell = page.locator(f"{table} .title-cell").first.bounding_box()
            assert cell and cell["width"] < width * 0.7, (path, width, cell)  # it wraps
            if width >= 1280:  # on a desktop the table fits: every column on screen, the last one included
                box = page.locator(table).bounding_box()
                scroller = page.locator(table).locator("xpath=..").bounding_box()
                assert box and scroller and box["width"] <= scroller["width"] + 1, (path, box, scroller)
                last = page.locator(f"{table} thead th").last.bounding_box()
                assert last and last["x"] + last["width"] <= width, (path, last)
            assert page.evaluate("document.documentElement.scrollWidth") <= width, path
        page.goto(tab.url + "/")
        alerts = page.locator("#firing-h + .scroll table")
        box, scroller = alerts.bounding_box(), alerts.locator("xpath=..").bounding_box()
        assert box and scroller and (width < 1280 or box["width"] <= scroller["width"] + 1), (width, box, scroller)
        cell = alerts.locator(".title-cell").first.bounding_box()
        assert cell and cell["width"] < width * 0.7, (width, cell)
        if width >= 1280:
            page.screenshot(path=str(ARTIFACTS / f"long-title-{_kind(server)}.png"), full_page=True)
        assert tab.errors == [], tab.errors
    assert ref


def test_docs_work_without_internet(tabs: Any, server: Running) -> None:  # noqa: F811
    """Issue 18 item 16: /docs loaded Swagger UI from a CDN and was blank without internet."""
    tab = tabs()
    outside: list[str] = []

    def only_loopback(route: Any) -> None:
        url = route.request.url
        if url.startswith(("http://127.0.0.1", "data:")):
            route.continue_()
        else:
            outside.append(url)
            route.abort()

    tab.context.route("**/*", only_loopback)
    page = tab.go("/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("warroom")
    expect(page.locator(".opblock-summary-path").first).to_be_visible()
    paths = page.locator(".opblock-summary-path").all_inner_texts()
    assert any(p.startswith("/api/v1/incidents") for p in paths), paths[:5]
    assert outside == [] and tab.errors == [], (outside, tab.errors)
    page.screenshot(path=str(ARTIFACTS / f"docs-{_kind(server)}.png"))


def test_pending_tasks_in_the_room(tabs: Any, server: Running, clock: FakeClock) -> None:  # noqa: F811
    """Issue 18 item 16: pending tasks had no web UI, only the API's PATCH of the whole list."""
    make_web_user(server, "alice")
    make_web_user(server, "victor", role="viewer")
    ref = _declare(server, clock)
    tab = tabs()
    page = tab.login("alice")
    page.goto(f"{tab.url}/incidents/{ref}")
    tasks = page.locator("#tasks")
    expect(tasks).to_contain_text("No pending tasks.")
    page.get_by_label("New task").fill("Add a CSP latency monitor")
    page.get_by_label("Link (optional)").fill("https://tracker.example/42")
    page.get_by_role("button", name="Add task").click()
    expect(page.locator(".flash.ok")).to_contain_text("Task added")
    page.get_by_label("New task").fill("Write the runbook")
    page.get_by_role("button", name="Add task").click()
    expect(tasks.locator("li")).to_have_count(2)
    expect(tasks.locator("li a")).to_have_attribute("href", "https://tracker.example/42")
    first = tasks.locator("li", has_text="Add a CSP latency monitor")
    first.get_by_role("button", name=re.compile(r"^Done\b.*Add a CSP latency monitor")).click()
    expect(tasks.locator("li.done")).to_contain_text("Add a CSP latency monitor")
    second = tasks.locator("li", has_text="Write the runbook")
    second.get_by_role("button", name=re.compile(r"^Remove\b.*Write the runbook")).click()
    expect(tasks.locator("li")).to_have_count(1)
    with server.admin() as c:
        inc = c.get(f"/api/v1/incidents/{ref}").json()
    assert inc["pending_tasks"] == [
        {"title": "Add a CSP latency monitor", "url": "https://tracker.example/42", "done": True}
    ]
    assert tab.errors == [], tab.errors
    viewer = tabs()
    vpage = viewer.login("victor")
    vpage.goto(f"{viewer.url}/incidents/{ref}")
    expect(vpage.locator("#tasks")).to_contain_text("Add a CSP latency monitor")
    assert vpage.locator("#tasks form").count() == 0
