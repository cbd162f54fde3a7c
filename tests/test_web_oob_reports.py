"""OOB deploy request pages and the Reports page over plain HTTP: forms, 422s, roles, CSRF (both databases)."""

from __future__ import annotations

import csv
import html
import io
import re
from datetime import UTC, datetime, timedelta

from tests.support.server import Running
from tests.support.web import csrf_of, login, make_web_user
from warroom.deploys import service as oob
from warroom.deploys.models import OobRequest
from warroom.incidents import queries as incident_queries
from warroom.incidents import service as incidents
from warroom.incidents.schemas import IncidentCreate

FULL = {
    "prs": "https://github.com/example/identity/pull/7\nhttps://github.com/example/identity/pull/8",
    "platform_severity": "critical",
    "active_daily_users": "120,000",
    "fix_confirmed_in_staging": "no",
    "not_confirmed_reason": "staging has no SAML IdP",
    "description": "Revert the SAML change",
    "reason": "nobody can sign in",
    "validation_steps": "sign in with a test account",
    "validated_by": "bob",
    "confirm_after_cutoff": "1",
    "confirm_cannot_wait": "1",
    "confirm_postmortem": "1",
}


def _declare(server: Running, title: str = "Sign-in down", when: datetime | None = None, priority: str = "P1") -> str:
    with server.state.sessions.begin() as s:
        return incidents.declare(
            s,
            policy=server.state.policy,
            now=when or server.state.now(),
            actor="alice",
            data=IncidentCreate(title=title, services=["usip"], priority=priority, severity="SEV-1", commander="alice"),
        ).ref


def _rows(server: Running) -> list[OobRequest]:
    with server.state.sessions() as s:
        return list(s.query(OobRequest).order_by(OobRequest.id))


def _moves(page: str) -> list[str]:
    return re.findall(r'data-to="([a-z]+)"', page)


def test_open_request_from_incident_422_names_missing_and_keeps_typed(server: Running) -> None:
    make_web_user(server, "alice")
    ref = _declare(server)
    alice, token = login(server, "alice")
    room = alice.get(f"/incidents/{ref}").text
    assert "Out-of-band deploys" in room and "No out-of-band deploy requests." in room
    assert f'action="/incidents/{ref}/oob"' in room and 'name="confirm_cannot_wait"' in room

    # Sending an incomplete form: 422 in the page, what is missing by name, the draft and the typing kept.
    typed = {
        "csrf": token,
        "action": "request",
        "description": "Revert <b>SAML</b> change",
        "platform_severity": "high",
        "active_daily_users": "5000",
    }
    r = alice.post(f"/incidents/{ref}/oob", data=typed)
    assert r.status_code == 422
    assert 'id="oob-error"' in r.text and "the form is incomplete" in r.text
    missing = re.findall(r'<li data-field="([a-z_]+)">', r.text)
    assert missing == [
        "prs",
        "fix_confirmed_in_staging",
        "reason",
        "validation_steps",
        "validated_by",
        "confirm_after_cutoff",
        "confirm_cannot_wait",
        "confirm_postmortem",
    ]
    assert "Related PR URLs" in r.text and "Who validated the fix" in r.text
    assert ">Revert &lt;b&gt;SAML&lt;/b&gt; change</textarea>" in r.text and 'value="5000"' in r.text
    assert "<option selected>high</option>" in r.text and 'aria-invalid="true"' in r.text
    [row] = _rows(server)
    assert (row.state, row.description, row.active_daily_users) == ("draft", "Revert <b>SAML</b> change", 5000)

    # A bad value: 422 naming the field, nothing saved, everything typed comes back.
    bad = {**FULL, "csrf": token, "prs": "not a url", "action": "request"}
    r = alice.post(f"/incidents/{ref}/oob", data=bad)
    assert r.status_code == 422 and "Related PR URLs (line 1)" in r.text and "Nothing was saved" in r.text
    assert ">not a url</textarea>" in r.text and ">staging has no SAML IdP</textarea>" in r.text
    assert 'id="oob-staging-no" name="fix_confirmed_in_staging" value="no" checked' in r.text
    assert (
        alice.post(f"/incidents/{ref}/oob", data={**FULL, "csrf": token, "active_daily_users": "lots"}).status_code
        == 422
    )
    assert len(_rows(server)) == 1

    # Complete the draft from its page and send it.
    page = alice.get(f"/incidents/{ref}/oob/OOB-{row.id}")
    assert page.status_code == 200 and _moves(page.text) == ["requested", "cancelled"]
    r = alice.post(f"/incidents/{ref}/oob/OOB-{row.id}/edit", data={**FULL, "csrf": token, "action": "request"})
    assert r.status_code == 303 and r.headers["location"] == f"/incidents/{ref}/oob/OOB-{row.id}"
    [row] = _rows(server)
    assert (row.state, row.requested_by, row.active_daily_users) == ("requested", "alice", 120000)
    assert row.prs == FULL["prs"].split("\n") and row.fix_confirmed_in_staging is False
    room = alice.get(f"/incidents/{ref}").text
    assert f'href="/incidents/{ref}/oob/OOB-{row.id}"' in room and 'oob-state requested">requested' in room
    assert "identity/pull/7" in room and "requested by alice" in room

    # A complete form sent straight from the incident page is requested at once.
    r = alice.post(f"/incidents/{ref}/oob", data={**FULL, "csrf": token, "action": "request"})
    assert r.status_code == 303
    assert [x.state for x in _rows(server)] == ["requested", "requested"]
    assert "sent to the platform team" in alice.get(r.headers["location"]).text


def test_only_legal_moves_checklist_who_and_when_and_refusals(server: Running) -> None:
    make_web_user(server, "alice")
    make_web_user(server, "bob")
    ref = _declare(server)
    alice, token = login(server, "alice")
    bob, btoken = login(server, "bob")
    r = alice.post(f"/incidents/{ref}/oob", data={**FULL, "csrf": token, "action": "request"})
    url = r.headers["location"]
    page = alice.get(url).text
    assert _moves(page) == ["approved", "rejected", "cancelled"]
    assert 'action="' + url + '/edit"' not in page  # only a draft's form can change
    assert "Revert the SAML change" in page and "staging has no SAML IdP" in page

    # Rejecting needs a reason (422); an illegal move is 409 and says what is allowed.
    r = alice.post(f"{url}/transition", data={"csrf": token, "to": "rejected"})
    assert r.status_code == 422 and "say why the request is rejected" in r.text
    r = alice.post(f"{url}/transition", data={"csrf": token, "to": "verified"})
    assert r.status_code == 409 and "cannot move OOB request from requested to verified" in r.text

    # The checklist: ticks record who and when; deploying waits for the required items.
    r = alice.post(f"{url}/transition", data={"csrf": token, "to": "approved"})  # her own request
    assert r.status_code == 403 and "cannot also approve it (separation of duties)" in r.text
    assert bob.post(f"{url}/transition", data={"csrf": btoken, "to": "approved"}).status_code == 303
    assert _moves(alice.get(url).text) == ["deployed", "cancelled"]
    r = alice.post(f"{url}/transition", data={"csrf": token, "to": "deployed"})
    assert r.status_code == 409 and "Still to do" in r.text
    assert re.findall(r'<li data-field="([a-z_]+)">', r.text) == [
        "paging_incident",
        "leadership_ack",
        "channels_notified",
    ]
    r = bob.post(
        f"{url}/checklist",
        data={"csrf": btoken, "done": ["paging_incident", "leadership_ack"], "note_leadership_ack": "VP on the bridge"},
    )
    assert r.status_code == 303
    page = alice.get(url).text
    assert "ticked by bob, 2026-10-05 09:00 UTC: VP on the bridge" in page
    assert 'id="ck-paging_incident" name="done" value="paging_incident" checked' in page
    server.state.clock.advance(timedelta(minutes=3))  # type: ignore[attr-defined]
    # Sending the boxes again keeps bob's ticks, adds alice's, and an untick withdraws one.
    r = alice.post(f"{url}/checklist", data={"csrf": token, "done": ["paging_incident", "channels_notified"]})
    assert r.status_code == 303
    [row] = _rows(server)
    assert row.checklist["paging_incident"]["by"] == "bob" and "leadership_ack" not in row.checklist
    assert row.checklist["channels_notified"]["by"] == "alice"
    assert row.checklist["channels_notified"]["at"].startswith("2026-10-05T09:03")
    assert alice.post(f"{url}/checklist", data={"csrf": token, "done": "bogus"}).status_code == 422
    alice.post(
        f"{url}/checklist", data={"csrf": token, "done": ["paging_incident", "channels_notified", "leadership_ack"]}
    )
    for to in ("deployed", "verified"):
        assert alice.post(f"{url}/transition", data={"csrf": token, "to": to}).status_code == 303
    page = alice.get(url).text
    assert _moves(page) == [] and "the request is final" in page and 'id="checklist-form"' not in page
    assert 'id="oob-deployed"' in page and 'id="oob-verified"' in page and "Due 2026-10-07" in page
    r = alice.post(f"{url}/postmortem", data={"csrf": token, "url": "https://docs.example/pm"})
    assert r.status_code == 303 and "https://docs.example/pm" in alice.get(url).text
    assert alice.post(f"{url}/postmortem", data={"csrf": token, "url": "javascript:alert(1)"}).status_code == 422
    with server.state.sessions() as s:
        texts = [e.text for e in incident_queries.timeline(s, incident_id=incidents.parse_ref(ref))]
    assert any("checklist: Engineering leadership acknowledged ticked (VP on the bridge)" in t for t in texts)
    assert any("verified in production by alice" in t for t in texts)
    # Unknown ids are 404 pages, also on another incident.
    other = _declare(server, title="Other")
    assert alice.get(f"/incidents/{other}/oob/{url.rsplit('/', 1)[1]}").status_code == 404
    assert alice.get(f"/incidents/{ref}/oob/OOB-999").status_code == 404


def test_viewer_sees_but_cannot_change_and_csrf_is_checked(server: Running) -> None:
    make_web_user(server, "alice")
    make_web_user(server, "victor", role="viewer")
    ref = _declare(server)
    with server.state.sessions.begin() as s:
        inc = incidents.get(s, ref, for_update=True)
        from warroom.deploys.schemas import OobForm

        row = oob.create(
            s,
            policy=server.state.policy,
            now=server.state.now(),
            actor="alice",
            incident=inc,
            form=OobForm(description="a draft"),
        )
        number = row.id
    url = f"/incidents/{ref}/oob/OOB-{number}"
    victor, vtoken = login(server, "victor")
    room = victor.get(f"/incidents/{ref}").text
    assert f'href="{url}"' in room and f'action="/incidents/{ref}/oob"' not in room
    page = victor.get(url)
    assert page.status_code == 200 and "a draft" in page.text
    assert (
        '<form method="post" action="/incidents' not in page.text
        and "<button" not in page.text.split("</header>", 1)[1]
    )
    posts = {
        f"/incidents/{ref}/oob": {**FULL},
        f"{url}/edit": {**FULL},
        f"{url}/transition": {"to": "cancelled"},
        f"{url}/checklist": {"done": "paging_incident"},
        f"{url}/postmortem": {},
    }
    for path, data in posts.items():
        r = victor.post(path, data={**data, "csrf": vtoken})
        assert r.status_code == 403 and "responder role" in r.text, path
    alice, token = login(server, "alice")
    for path, data in posts.items():
        assert alice.post(path, data=data).status_code == 403, path
        assert alice.post(path, data={**data, "csrf": "x" * 43}).status_code == 403, path
    [row] = _rows(server)
    assert (row.state, row.description) == ("draft", "a draft")
    assert alice.post(f"{url}/transition", data={"csrf": token, "to": "cancelled"}).status_code == 303


def test_reports_page_figures_charts_and_downloads(server: Running) -> None:
    make_web_user(server, "victor", role="viewer")
    make_web_user(server, "alice")  # the incidents' commander
    sept = datetime(2026, 9, 10, 12, 0, tzinfo=UTC)
    p1 = _declare(server, title="Sept P1", when=sept)
    _declare(server, title="Sept P3", when=sept + timedelta(days=1), priority="P3")
    _declare(server, title="October one")  # outside the default period (last full month: September)
    with server.state.sessions.begin() as s:
        inc = incidents.get(s, p1, for_update=True)
        incidents.transition(
            s,
            policy=server.state.policy,
            now=sept + timedelta(minutes=45),
            actor="alice",
            incident=inc,
            to="resolved",
            hooks=server.state.hooks,
        )
    victor, _ = login(server, "victor")
    assert 'href="/reports"' in victor.get("/").text
    page = victor.get("/reports")
    assert page.status_code == 200
    text = page.text
    assert 'id="r-from" name="from" type="date" value="2026-09-01"' in text
    assert 'id="r-to" name="to" type="date" value="2026-09-30"' in text
    table = text.split('id="report-table"', 1)[1].split("</table>", 1)[0]
    assert '<th scope="col">MTTA</th>' in table and '<th scope="col">OOB deploys</th>' in table
    assert re.search(r'<th scope="row">P1</th><td>1</td>', table)
    assert re.search(r'<tr class="total"><th scope="row">total</th><td>2</td>', table)
    assert "45m" in table
    assert text.count("<svg ") == 5 and 'role="img" aria-label="Mean time to resolve by priority"' in text
    assert "<script" not in text.split("</head>", 1)[1]
    csv_url = html.unescape(re.search(r'href="(/reports\.csv\?[^"]+)"', text).group(1))  # type: ignore[union-attr]
    assert csv_url == "/reports.csv?from=2026-09-01&to=2026-09-30&group_by=priority"
    got = victor.get(csv_url)
    assert got.status_code == 200 and got.headers["content-type"].startswith("text/csv")
    assert got.headers["content-disposition"].startswith("attachment")
    with server.admin() as c:
        api = c.get(
            "/api/v1/reports",
            params={"from": "2026-09-01", "to": "2026-10-01", "group_by": "priority", "format": "csv"},
        )
        api_md = c.get("/api/v1/reports/monthly", params={"month": "2026-09"}).text
    assert got.text == api.text
    rows = list(csv.DictReader(io.StringIO(got.text)))
    assert [(r["key"], r["incidents"]) for r in rows] == [("P1", "1"), ("P3", "1"), ("total", "2")]
    assert rows[0]["time_to_resolve_seconds"] == "2700.0"
    md = victor.get("/reports/monthly.md?month=2026-09")
    assert md.status_code == 200 and md.text == api_md and md.text.startswith("# Incident report 2026-09")
    assert md.headers["content-disposition"] == 'attachment; filename="incident-report-2026-09.md"'
    assert victor.get("/reports/monthly.md").text == api_md  # default: the last full month
    by_month = victor.get("/reports?from=2026-09-01&to=2026-10-31&group_by=month").text
    assert '<th scope="row">2026-09</th><td>2</td>' in by_month and '<th scope="row">2026-10</th><td>1</td>' in by_month
    empty = victor.get("/reports?from=2025-01-01&to=2025-01-31").text
    assert "No incidents were declared in this period" in empty and "<svg " not in empty
    for bad in (
        "/reports?from=2026-13-01",
        "/reports?from=2026-09-10&to=2026-09-01",
        "/reports?group_by=colour",
        "/reports.csv?to=yesterday",
        "/reports/monthly.md?month=2026-13",
    ):
        r = victor.get(bad)
        assert r.status_code == 422, bad
    assert 'id="report-error"' in victor.get("/reports?group_by=colour").text
    anon_csv = victor.__class__(base_url=server.url).get("/reports.csv")
    assert anon_csv.status_code == 303 and anon_csv.headers["location"].startswith("/login")
    assert csrf_of(page.text)  # the page is a normal signed-in page (sign-out form)
