"""Public service status: mapping per severity and for firing alerts, no token, nothing internal."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.conftest import T0
from tests.support.alert_rows import add_alert
from tests.support.server import Running
from warroom.core.clock import FakeClock

EXPECTED = {"SEV-1": "outage", "SEV-2": "outage", "SEV-3": "degraded", "SEV-4": "degraded", "SEV-5": "degraded"}
SERVICE_KEYS = {"service", "name", "status", "incidents", "updated_at"}
INCIDENT_KEYS = {"title", "status", "since", "last_update_at"}


def _declare(server: Running, service: str, severity: str, **extra: object) -> str:
    with server.admin() as c:
        r = c.post("/api/v1/incidents", json={"services": [service], "priority": "P2", "severity": severity, **extra})
        assert r.status_code == 201, r.text
        return str(r.json()["id"])


def _status(server: Running, service: str | None = None) -> dict:
    with server.client() as c:  # no token at all
        r = c.get(f"/api/v1/status/{service}" if service else "/api/v1/status")
        assert r.status_code == 200, r.text
        return dict(r.json())


def _resolve(server: Running, ref: str) -> None:
    with server.admin() as c:
        assert c.post(f"/api/v1/incidents/{ref}/transitions", json={"to": "resolved"}).status_code == 200


@pytest.mark.parametrize("severity", sorted(EXPECTED))
def test_each_severity_maps_to_its_status(server: Running, severity: str) -> None:
    assert _status(server, "sis")["status"] == "operational"
    ref = _declare(server, "sis", severity, title="Sign-in errors")
    got = _status(server, "sis")
    assert got["status"] == EXPECTED[severity]
    assert got["incidents"] == [
        {
            "title": "Sign-in errors",
            "status": EXPECTED[severity],
            "since": "2026-10-05T09:00:00Z",
            "last_update_at": "2026-10-05T09:00:00Z",
        }
    ]
    everything = _status(server)
    assert everything["status"] == EXPECTED[severity]
    by_key = {s["service"]: s["status"] for s in everything["services"]}
    assert by_key == {
        "usip": "operational",
        "ssoe": "operational",
        "sis": EXPECTED[severity],
        "tou": "operational",
        "csp": "operational",
        "mpi": "operational",
    }
    _resolve(server, ref)
    assert _status(server, "sis")["status"] == "operational"


def test_worst_open_incident_wins_and_stable_still_counts(server: Running, clock: FakeClock) -> None:
    minor = _declare(server, "csp", "SEV-4")
    major = _declare(server, "csp", "SEV-1")
    assert _status(server, "csp")["status"] == "outage"
    with server.admin() as c:
        assert c.post(f"/api/v1/incidents/{major}/transitions", json={"to": "stable"}).status_code == 200
        clock.advance(timedelta(minutes=7))
        assert c.post(f"/api/v1/incidents/{minor}/updates", json={"message": "retrying"}).status_code == 201
    got = _status(server, "csp")
    assert got["status"] == "degraded"  # a stable (mitigated) SEV-1 still counts, as degraded (issue 18 item 13)
    assert [(i["status"], i["last_update_at"]) for i in got["incidents"]] == [
        ("degraded", "2026-10-05T09:07:00Z"),
        ("degraded", "2026-10-05T09:00:00Z"),
    ]
    assert got["updated_at"] == "2026-10-05T09:07:00Z"
    with server.admin() as c:  # back to active: an outage again
        assert c.post(f"/api/v1/incidents/{major}/transitions", json={"to": "active"}).status_code == 200
    assert _status(server, "csp")["status"] == "outage"
    _resolve(server, major)
    assert _status(server, "csp")["status"] == "degraded"


def test_the_stable_mapping_is_the_policys(server: Running) -> None:
    page = server.state.policy.status_page.model_copy(update={"stable_severity_status": {"SEV-3": "operational"}})
    server.state.policy = server.state.policy.model_copy(update={"status_page": page})
    one, two = _declare(server, "csp", "SEV-1"), _declare(server, "tou", "SEV-3")
    with server.admin() as c:
        for ref in (one, two):
            assert c.post(f"/api/v1/incidents/{ref}/transitions", json={"to": "stable"}).status_code == 200
    assert _status(server, "csp")["status"] == "outage"  # SEV-1 not listed: severity_status
    assert _status(server, "tou")["status"] == "operational"


def test_firing_production_alert_without_incident(server: Running) -> None:
    sessions = server.state.sessions
    add_alert(sessions, service="ssoe", at=T0, tier=2, environment="staging")
    add_alert(sessions, service="ssoe", at=T0, status="resolved")
    assert _status(server, "ssoe")["status"] == "operational"  # staging, or no longer firing
    add_alert(sessions, service="ssoe", at=T0 - timedelta(minutes=4))
    got = _status(server, "ssoe")
    assert got["status"] == "degraded" and got["incidents"] == []
    assert got["updated_at"] == "2026-10-05T08:56:00Z"
    assert _status(server)["status"] == "degraded"


def test_alert_of_an_open_incident_is_that_incidents_status(server: Running) -> None:
    page = server.state.policy.status_page.model_copy(update={"firing_alert_without_incident": "outage"})
    server.state.policy = server.state.policy.model_copy(update={"status_page": page})
    ref = _declare(server, "tou", "SEV-5")
    add_alert(server.state.sessions, service="tou", at=T0, incident_id=int(ref.removeprefix("INC-")))
    assert _status(server, "tou")["status"] == "degraded"  # from SEV-5, the alert is handled
    _resolve(server, ref)
    assert _status(server, "tou")["status"] == "outage"  # still firing, incident closed


def test_public_endpoints_need_no_token_and_leak_nothing(server: Running) -> None:
    with server.admin() as c:  # a commander is a warroom user
        assert c.post("/api/v1/users", json={"handle": "alice-commander"}).status_code == 201
    ref = _declare(
        server,
        "usip",
        "SEV-2",
        title="Banner title",
        commander="alice-commander",
        roles={"technical_lead": "bob-lead"},
        impacts="SECRET-IMPACT",
        tracking_issue="https://tracker.internal/SECRET-TICKET",
        sub_services="SECRET-SUB",
        users_impacted=4242,
        monitors=["SECRET-MONITOR"],
    )
    with server.admin() as c:
        c.post(f"/api/v1/incidents/{ref}/notes", json={"text": "SECRET-NOTE"})
        c.post(f"/api/v1/incidents/{ref}/updates", json={"message": "SECRET-UPDATE"})
    add_alert(server.state.sessions, service="mpi", at=T0)
    secrets = ("alice", "bob", "SECRET", "4242", "admin", "INC-", "tracker")
    with server.client("not-a-real-token") as c:  # a bad token must not matter either
        for path in ("/api/v1/status", "/api/v1/status/usip", "/status"):
            r = c.get(path)
            assert r.status_code == 200, (path, r.text)
            assert r.headers["access-control-allow-origin"] == "*"
            assert r.headers["cache-control"] == "public, max-age=30"
            for word in secrets:
                assert word not in r.text, (path, word)
        r = c.options(
            "/api/v1/status", headers={"Origin": "https://sign-in.example", "Access-Control-Request-Method": "GET"}
        )
        assert r.status_code == 204 and r.headers["access-control-allow-origin"] == "*"
        assert c.get("/api/v1/status/nope").status_code == 404
    body = _status(server)
    assert set(body) == {"status", "generated_at", "services"}
    for svc in body["services"]:
        assert set(svc) == SERVICE_KEYS
        for inc in svc["incidents"]:
            assert set(inc) == INCIDENT_KEYS
    assert body["services"][0]["incidents"][0]["title"] == "Banner title"


def test_status_page_html_is_plain_and_escaped(server: Running) -> None:
    _declare(server, "sis", "SEV-1", title="<script>alert(1)</script> logins down")
    with server.client() as c:
        r = c.get("/status")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    html = r.text
    assert "<script" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; logins down" in html
    assert "Some services are experiencing an outage." in html
    assert "Sign-in service" in html and "Terms of use" in html
    assert html.count('class="pill outage"') == 1 and html.count('class="pill operational"') == 5
