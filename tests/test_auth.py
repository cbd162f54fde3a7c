"""401 without a token, 403 for a role too low, and revoked tokens stop at once."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta

import pytest

from tests.support.alerts import accepted, dd
from tests.support.server import Running
from tests.test_cli import ok as cli_ok
from warroom.core.clock import FakeClock

ROUTES = [
    ("GET", "/api/v1/incidents", "viewer"),
    ("POST", "/api/v1/incidents", "responder"),
    ("GET", "/api/v1/users", "viewer"),
    ("POST", "/api/v1/users", "admin"),
    ("GET", "/api/v1/tokens", "admin"),
    ("GET", "/api/v1/policy", "viewer"),
]
RANK = {"viewer": 0, "responder": 1, "admin": 2}


def test_healthz_is_open(server: Running) -> None:
    with server.client() as c:
        r = c.get("/healthz")
        assert r.status_code == 200 and r.json()["checks"]["database"] == "ok"


@pytest.mark.parametrize(("method", "path", "need"), ROUTES)
def test_roles(server: Running, make_user, method: str, path: str, need: str) -> None:  # type: ignore[no-untyped-def]
    tokens = {role: make_user(f"u-{role}", role) for role in RANK}
    body = {"services": ["sis"], "priority": "P3", "severity": "SEV-3"} if "incidents" in path else {"handle": "newbie"}
    with server.client() as anon:
        r = anon.request(method, path, json=body if method == "POST" else None)
        assert r.status_code == 401
        assert r.json()["error"]["code"] == "unauthorized"
        assert r.headers["www-authenticate"] == "Bearer"
    for role, token in tokens.items():
        with server.client(token) as c:
            r = c.request(method, path, json=body if method == "POST" else None)
            if RANK[role] >= RANK[need]:
                assert r.status_code in (200, 201, 409), (role, r.text)
            else:
                assert r.status_code == 403, (role, r.text)
                assert need in r.json()["error"]["message"]


def test_token_forms_and_revocation(server: Running, make_user) -> None:  # type: ignore[no-untyped-def]
    token = make_user("alice", "viewer")
    basic = base64.b64encode(f"x:{token}".encode()).decode()
    with server.client() as c:
        assert c.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).json() == {
            "handle": "alice",
            "role": "viewer",
        }
        assert c.get("/api/v1/me", headers={"Authorization": f"Basic {basic}"}).status_code == 200
        assert c.get("/api/v1/me", params={"token": token}).status_code == 200
        assert c.get("/api/v1/me", headers={"Authorization": "Bearer wru_nope"}).status_code == 401
    with server.admin() as admin:
        tokens = admin.get("/api/v1/tokens").json()
        mine = next(t for t in tokens if t["user"] == "alice")
        assert "token" not in mine and token not in str(tokens)
        assert admin.delete(f"/api/v1/tokens/{mine['id']}").status_code == 200
    with server.client(token) as c:
        r = c.get("/api/v1/me")
        assert r.status_code == 401 and "revoked" in r.json()["error"]["message"]


def test_ingest_token_cannot_use_api(server: Running) -> None:
    with server.admin() as admin:
        r = admin.post("/api/v1/tokens", json={"kind": "ingest", "name": "datadog"})
        assert r.status_code == 201
        ingest = r.json()["token"]
    with server.client(ingest) as c:
        assert c.get("/api/v1/incidents").status_code == 403


def test_disabled_user_token_refused(server: Running, make_user) -> None:  # type: ignore[no-untyped-def]
    token = make_user("mallory")
    with server.admin() as admin:
        assert admin.patch("/api/v1/users/mallory", json={"active": False}).status_code == 200
    with server.client(token) as c:
        assert c.get("/api/v1/me").status_code == 401


def test_user_patch_rejects_null_for_required_fields(server: Running, make_user) -> None:  # type: ignore[no-untyped-def]
    make_user("nora")
    with server.admin() as admin:
        for field in ("name", "active", "role"):
            r = admin.patch("/api/v1/users/nora", json={field: None})
            assert r.status_code == 422, (field, r.text)
            assert "cannot be null" in r.text
        # email and slack_id are optional: null clears them.
        r = admin.patch("/api/v1/users/nora", json={"email": "n@example.com"})
        assert r.status_code == 200 and r.json()["email"] == "n@example.com"
        r = admin.patch("/api/v1/users/nora", json={"email": None})
        assert r.status_code == 200 and r.json()["email"] is None
        user = next(u for u in admin.get("/api/v1/users").json() if u["handle"] == "nora")
        assert user["active"] is True and user["role"] == "responder"


def test_nul_character_in_text_is_a_422_on_postgres_and_kept_on_sqlite(server: Running, db_url: str) -> None:
    """PostgreSQL text cannot hold U+0000: the API answers 422 and stores nothing, not a 500."""
    with server.admin() as admin:
        r = admin.post("/api/v1/tokens", json={"name": "ci\u0000bot"})
        names = [t["name"] for t in admin.get("/api/v1/tokens").json()]
    if db_url.startswith("postgresql"):
        assert r.status_code == 422, r.text
        assert "NUL" in r.json()["error"]["message"] and "ci\u0000bot" not in names
    else:
        assert r.status_code == 201, r.text
        assert "ci\u0000bot" in names


def test_audit_log_records_who_changed_what(server: Running, make_user) -> None:  # type: ignore[no-untyped-def]
    alice = make_user("alice")
    with server.client(alice) as c:
        inc = c.post("/api/v1/incidents", json={"services": ["sis"], "priority": "P2", "severity": "SEV-3"}).json()
        assert c.patch(f"/api/v1/incidents/{inc['id']}", json={"impacts": "x"}).status_code == 200
        assert c.post(f"/api/v1/incidents/{inc['id']}/transitions", json={"to": "completed"}).status_code == 409
        assert c.get("/api/v1/audit").status_code == 403
    with server.admin() as admin:
        entries = admin.get("/api/v1/audit", params={"actor": "alice"}).json()["items"]
    actions = [(e["action"], e["target"]) for e in entries]
    assert ("PATCH /api/v1/incidents/{ref}", inc["id"]) in actions
    assert ("POST /api/v1/incidents", None) in actions
    # A refused change is not a change: nothing audited for the 409.
    assert not any(a.endswith("/transitions") for a, _ in actions)


def _last_used(server: Running, name: str) -> str | None:
    with server.admin() as admin:
        found = next(t for t in admin.get("/api/v1/tokens").json() if t["name"] == name)
    used: str | None = found["last_used_at"]
    return used


def test_tokens_record_their_last_use_at_most_once_a_minute(server: Running, clock: FakeClock, db_url: str) -> None:
    """Issue 19 item 11: `last_used_at` was never set, so stale tokens could not be found."""
    with server.admin() as admin:
        admin.post("/api/v1/users", json={"handle": "alice", "role": "viewer"})
        token = admin.post("/api/v1/tokens", json={"user": "alice", "name": "alice-script"}).json()["token"]
        ingest = admin.post("/api/v1/tokens", json={"kind": "ingest", "name": "datadog"}).json()["token"]
    assert _last_used(server, "alice-script") is None and _last_used(server, "datadog") is None
    first = clock.now()
    with server.client(token) as c:
        assert c.get("/api/v1/me").status_code == 200
    assert _datetime(_last_used(server, "alice-script")) == first
    clock.advance(timedelta(seconds=30))
    with server.client(token) as c:
        assert c.get("/api/v1/me").status_code == 200
    assert _datetime(_last_used(server, "alice-script")) == first  # not a write per request
    clock.advance(timedelta(seconds=31))
    with server.client(token) as c:
        assert c.get("/api/v1/incidents").status_code == 200
    assert _datetime(_last_used(server, "alice-script")) == first + timedelta(seconds=61)
    # the alert webhooks' fast path verifies its tokens itself, in the batch that stores the alert
    accepted(server, ingest, "datadog", dd())
    assert _datetime(_last_used(server, "datadog")) == clock.now()
    clock.advance(timedelta(minutes=5))
    accepted(server, ingest, "datadog", dd(alert_id="2"))
    assert _datetime(_last_used(server, "datadog")) == clock.now()
    # and the terminal shows it, so a stale token can be found and revoked
    listed = {t["name"]: t for t in json.loads(cli_ok(db_url, "token", "list", "--json"))}
    assert _datetime(listed["datadog"]["last_used_at"]) == clock.now()
    assert listed["first-run"]["last_used_at"] is not None
    table = cli_ok(db_url, "token", "list")
    assert "last used" in table and clock.now().strftime("%Y-%m-%d %H:%M") in table


def test_a_refused_token_is_not_marked_used(server: Running, clock: FakeClock) -> None:
    with server.admin() as admin:
        admin.post("/api/v1/users", json={"handle": "bob", "role": "viewer"})
        token = admin.post("/api/v1/tokens", json={"user": "bob", "name": "bob-old"}).json()["token"]
        admin.patch("/api/v1/users/bob", json={"active": False})
    with server.client(token) as c:
        assert c.get("/api/v1/me").status_code == 401
    assert _last_used(server, "bob-old") is None


def _datetime(text: str | None) -> datetime:
    assert text is not None
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
