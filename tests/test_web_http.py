"""The web UI over plain HTTP: sessions, CSRF, roles, escaping, lists (both databases)."""

from __future__ import annotations

from datetime import timedelta

from tests.support import cli
from tests.support.server import Running, http_client
from tests.support.web import PASSWORD, csrf_of, login, make_web_user
from warroom.alerts.models import Alert
from warroom.incidents import queries as incident_queries
from warroom.incidents import service as incidents
from warroom.incidents.schemas import IncidentCreate
from warroom.notifications.models import Notification


def _declare(server: Running, title: str = "Sign-in down", commander: str = "alice") -> str:
    with server.state.sessions.begin() as s:
        inc = incidents.declare(
            s,
            policy=server.state.policy,
            now=server.state.now(),
            actor=commander,
            data=IncidentCreate(title=title, services=["usip"], priority="P1", severity="SEV-1", commander=commander),
        )
        return inc.ref


def test_pages_need_a_session_and_cookie_flags(server: Running) -> None:
    make_web_user(server, "alice")
    anon = http_client(base_url=server.url, timeout=30)
    r = anon.get("/incidents")
    assert r.status_code == 303 and r.headers["location"].startswith("/login?next=%2Fincidents")
    page = anon.get("/login")
    bad = anon.post("/login", data={"handle": "alice", "password": "wrong-password", "csrf": csrf_of(page.text)})
    assert bad.status_code == 401 and "Wrong handle or password" in bad.text
    assert "warroom_session" not in anon.cookies
    page = anon.get("/login")
    ok = anon.post(
        "/login", data={"handle": "alice", "password": PASSWORD, "csrf": csrf_of(page.text), "next": "//evil.example/"}
    )
    assert ok.status_code == 303 and ok.headers["location"] == "/"
    cookie = next(h for h in ok.headers.get_list("set-cookie") if h.startswith("warroom_session="))
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" not in cookie
    # the database holds only a hash of the cookie value
    token = anon.cookies["warroom_session"]
    from warroom.users.models import WebSession

    with server.state.sessions() as s:
        assert s.get(WebSession, token) is None and s.query(WebSession).count() == 1
    assert anon.get("/").status_code == 200
    # logout needs the CSRF token, then the session is gone server-side
    assert anon.post("/logout", data={}).status_code == 403
    home = anon.get("/")
    assert anon.post("/logout", data={"csrf": csrf_of(home.text)}).status_code == 303
    stolen = http_client(base_url=server.url, cookies={"warroom_session": token})
    assert stolen.get("/").status_code == 303


def test_login_form_needs_its_csrf_token(server: Running) -> None:
    make_web_user(server, "alice")
    anon = http_client(base_url=server.url, timeout=30)
    anon.get("/login")
    r = anon.post("/login", data={"handle": "alice", "password": PASSWORD, "csrf": "forged"})
    assert r.status_code == 403


def test_secure_cookie_when_configured(server: Running) -> None:
    make_web_user(server, "alice")
    server.state.settings.secure_cookies = True
    anon = http_client(base_url=server.url, timeout=30)
    page = anon.get("/login")
    pre = next(h for h in page.headers.get_list("set-cookie") if h.startswith("warroom_login_csrf="))
    assert "Secure" in pre and "HttpOnly" in pre
    token = csrf_of(page.text)  # a Secure cookie is not sent back over http: send it as a browser on https would
    r = anon.post(
        "/login",
        data={"handle": "alice", "password": PASSWORD, "csrf": token},
        headers={"Cookie": f"warroom_login_csrf={token}"},
    )
    cookie = next(h for h in r.headers.get_list("set-cookie") if h.startswith("warroom_session="))
    assert "Secure" in cookie and "HttpOnly" in cookie


def test_csrf_and_roles_on_posts(server: Running) -> None:
    make_web_user(server, "alice")
    make_web_user(server, "victor", role="viewer")
    ref = _declare(server)
    alice, token = login(server, "alice")
    assert alice.post(f"/incidents/{ref}/notes", data={"text": "no token"}).status_code == 403
    assert alice.post(f"/incidents/{ref}/notes", data={"text": "bad", "csrf": "x" * 43}).status_code == 403
    assert alice.post(f"/incidents/{ref}/notes", data={"text": "good", "csrf": token}).status_code == 303
    victor, vtoken = login(server, "victor")
    page = victor.get(f"/incidents/{ref}")
    assert page.status_code == 200
    for action in ("notes", "updates", "transition", "edit"):
        control = f'action="/incidents/{ref}/{action}"'
        assert control not in page.text
    assert 'href="/incidents/new"' not in page.text
    r = victor.post(f"/incidents/{ref}/notes", data={"text": "viewer note", "csrf": vtoken})
    assert r.status_code == 403
    with server.state.sessions() as s:
        texts = [e.text for e in incident_queries.timeline(s, incident_id=incidents.parse_ref(ref))]
    assert "good" in texts and "viewer note" not in texts and "bad" not in texts


def test_script_title_is_escaped_everywhere(server: Running) -> None:
    make_web_user(server, "alice")
    ref = _declare(server, title="<script>alert(1)</script>")
    alice, _ = login(server, "alice")
    for url in ("/", f"/incidents/{ref}", "/incidents", "/dashboard/panel"):
        body = alice.get(url).text
        assert "<script>alert(1)</script>" not in body, url
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body, url
    assert "script-src 'self'" in alice.get("/").headers["content-security-policy"]


def test_postmortem_markdown_has_html_disabled(server: Running) -> None:
    make_web_user(server, "alice")
    ref = _declare(server)
    alice, token = login(server, "alice")
    assert alice.post(f"/incidents/{ref}/transition", data={"to": "resolved", "csrf": token}).status_code == 303
    md = "# Report\n\n<img src=x onerror=alert(1)>\n\n[click](javascript:alert(1))\n"
    assert alice.post(f"/incidents/{ref}/postmortem", data={"markdown": md, "csrf": token}).status_code == 303
    page = alice.get(f"/incidents/{ref}/postmortem").text
    assert "<h1>Report</h1>" in page
    assert "<img" not in page and 'href="javascript:' not in page
    dl = alice.get(f"/incidents/{ref}/postmortem.md")
    assert dl.headers["content-disposition"].startswith("attachment") and dl.text == md


def test_lists_filters_pagination_and_policy(server: Running) -> None:
    make_web_user(server, "alice")
    refs = [_declare(server, title=f"incident {i}") for i in range(55)]
    alice, token = login(server, "alice")
    first = alice.get("/incidents")
    assert first.status_code == 200 and "55 in all" in first.text and "Page 1 of 2" in first.text
    assert f">{refs[-1]}<" in first.text and f">{refs[0]}<" not in first.text
    second = alice.get("/incidents?page=2")
    assert f">{refs[0]}<" in second.text
    assert "No incidents match" in alice.get("/incidents?priority=P4").text
    assert "55 in all" in alice.get("/incidents?state=open&service=usip&priority=P1").text
    day = server.state.now().date()
    assert "55 in all" in alice.get(f"/incidents?from={day}&to={day}").text
    assert "No incidents match" in alice.get(f"/incidents?from={day + timedelta(days=1)}").text
    assert alice.get("/incidents?state=bogus").status_code == 422
    policy = alice.get("/policy")
    assert policy.status_code == 200 and "Unified sign-in page" in policy.text and "SEV-1" in policy.text
    assert alice.get("/alerts").status_code == 200
    missing = alice.get("/incidents/INC-999999")
    assert missing.status_code == 404 and "no incident INC-999999" in missing.text


def test_dead_notification_retry(server: Running) -> None:
    make_web_user(server, "alice")
    ref = _declare(server)
    now = server.state.now()
    with server.state.sessions.begin() as s:
        row = Notification(
            idempotency_key="dead-1",
            incident_id=incidents.parse_ref(ref),
            event="update",
            channel="support",
            text="hello",
            payload={},
            state="dead",
            attempts=8,
            next_attempt_at=now,
            last_error="HTTP 500 from slack",
            created_at=now,
        )
        s.add(row)
        s.flush()
        nid = row.id
    alice, token = login(server, "alice")
    page = alice.get("/notifications/dead")
    assert "HTTP 500 from slack" in page.text and f"/notifications/{nid}/retry" in page.text
    assert alice.post(f"/notifications/{nid}/retry", data={}).status_code == 403
    assert alice.post(f"/notifications/{nid}/retry", data={"csrf": token}).status_code == 303
    with server.state.sessions() as s:
        row = s.get(Notification, nid)
        assert (row.state, row.attempts) == ("pending", 0)
        assert row.last_error == "retried by hand; before: HTTP 500 from slack"
    assert "No dead notifications" in alice.get("/notifications/dead").text
    again = alice.post(f"/notifications/{nid}/retry", data={"csrf": token}, follow_redirects=True)
    assert "is pending, not dead" in again.text


def test_expired_session_and_htmx_poll(server: Running) -> None:
    make_web_user(server, "alice")
    alice, _ = login(server, "alice")
    assert alice.get("/dashboard/panel", headers={"HX-Request": "true"}).status_code == 200
    server.state.clock.advance(timedelta(hours=server.state.settings.web_session_hours, seconds=1))  # type: ignore[attr-defined]
    r = alice.get("/dashboard/panel", headers={"HX-Request": "true"})
    assert r.status_code == 401 and r.headers["hx-redirect"] == "/login?next=%2Fdashboard%2Fpanel"
    assert alice.get("/").status_code == 303


def test_alerts_on_dashboard_incident_page_and_list(server: Running) -> None:
    make_web_user(server, "alice")
    ref = _declare(server)
    now = server.state.now()

    def alert(key: str, title: str, status: str, incident_id: int | None) -> Alert:
        return Alert(
            source="datadog",
            dedup_key=key,
            open_key=key if status == "firing" else None,
            service="usip",
            mapped=True,
            environment="production",
            tier=1,
            title=title,
            status=status,
            priority="P1",
            priority_rule="unknown-impact-t1",
            priority_reason="firing 15m in production",
            labels={},
            first_seen_at=now - timedelta(minutes=20),
            last_seen_at=now,
            incident_id=incident_id,
            event_count=1,
        )

    with server.state.sessions.begin() as s:
        s.add_all(
            [
                alert("a1", "usip 5xx <b>high</b>", "firing", None),
                alert("a2", "usip latency", "resolved", incidents.parse_ref(ref)),
                alert("a3", "usip errors linked", "firing", incidents.parse_ref(ref)),
            ]
        )
    alice, _ = login(server, "alice")
    home = alice.get("/").text
    assert 'Firing alerts not in an incident <span class="count">1</span>' in home
    assert "usip 5xx &lt;b&gt;high&lt;/b&gt;" in home and "usip errors linked" not in home
    assert '<a href="/incidents/new?alert=' in home  # Declare on the alert: the form is filled from it
    room = alice.get(f"/incidents/{ref}").text
    assert 'alert-status resolved">resolved</span> usip latency' in room
    assert 'alert-status firing">firing</span> usip errors linked' in room
    listing = alice.get("/alerts?status=firing").text
    assert "3 in all" not in listing and "2 in all" in listing
    assert "3 in all" in alice.get("/alerts").text
    form = alice.get("/incidents/new?service=usip&tier=1").text
    assert 'value="usip" data-name="Unified sign-in page" checked' in form
    assert '<option value="1" selected>' in form


def test_cli_passwd_sets_the_web_password_and_signs_out_browsers(server: Running, db_url: str) -> None:
    make_web_user(server, "alice")
    alice, _ = login(server, "alice")
    done = cli.warroom(
        "user", "passwd", "alice", "--password", "a brand new password", env={"WARROOM_DATABASE_URL": db_url}
    )
    assert done.returncode == 0, done.stderr
    assert alice.get("/").status_code == 303  # the old session is gone
    login(server, "alice", "a brand new password")
