"""Web fixes seen in real Chromium: alert links, stale edits, the status page's style, long titles, /docs offline."""

from __future__ import annotations

from typing import Any

from tests.support.alert_rows import add_alert
from tests.support.server import Running
from tests.support.web import make_web_user
from tests.test_web_browser import ARTIFACTS, _kind, browser, tabs  # noqa: F401 (fixtures)
from warroom.alerts.models import Alert
from warroom.core.clock import FakeClock
from warroom.incidents import service as incidents
from warroom.incidents.schemas import IncidentCreate

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
