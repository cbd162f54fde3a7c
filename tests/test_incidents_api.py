"""The incident contract over real HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.conftest import T0
from tests.support.server import Running
from warroom.core.clock import FakeClock

DECLARE = {"services": ["sis"], "priority": "P1", "severity": "SEV-2"}


def _declare(server: Running, token: str | None = None, **extra: object) -> dict:
    with server.client(token or server.admin_token) as c:
        r = c.post("/api/v1/incidents", json={**DECLARE, **extra})
        assert r.status_code == 201, r.text
        return r.json()


def test_declare_defaults(server: Running) -> None:
    inc = _declare(server)
    assert inc["id"] == "INC-1"
    assert inc["title"] == "Sign-in service is experiencing degraded service"
    assert inc["state"] == "active" and inc["commander"] == "admin"
    assert inc["declared_at"] == "2026-10-05T09:00:00Z"
    assert inc["next_update_due_at"] == "2026-10-05T09:30:00Z"
    assert inc["acknowledged_at"] == "2026-10-05T09:00:00Z"
    assert inc["allowed_transitions"] == ["stable", "resolved"]
    assert _declare(server)["id"] == "INC-2"


def test_declare_all_fields_roundtrip(server: Running, make_user) -> None:  # type: ignore[no-untyped-def]
    make_user("alice")  # the commander is a warroom user
    full = {
        "title": "CSP logins failing",
        "services": ["csp", "sis"],
        "priority": "P2",
        "severity": "SEV-1",
        "commander": "alice",
        "roles": {
            "technical_lead": "bob",
            "oncall_responder": "carol",
            "security_analyst": "dave",
            "platform_support_coordinator": "erin",
            "stakeholder_liaison": "frank",
        },
        "monitors": ["dd-123"],
        "teams": ["identity"],
        "controller": "/v1/sessions",
        "acknowledged_by_team": True,
        "tracking_issue": "https://tracker.example/1",
        "sub_services": "login.gov",
        "users_impacted": 2500,
        "impacts": "logins fail",
        "detection_method": "monitor",
        "pending_tasks": [{"title": "add alert", "url": "https://tracker.example/2"}],
    }
    inc = _declare(server, **full)
    with server.admin() as c:
        got = c.get(f"/api/v1/incidents/{inc['id']}").json()
    for key, value in full.items():
        if key == "pending_tasks":
            assert got[key] == [{"title": "add alert", "url": "https://tracker.example/2", "done": False}]
        else:
            assert got[key] == value, key


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"services": [], "priority": "P1", "severity": "SEV-1"}, "services"),
        ({"services": ["sis"], "priority": "P7", "severity": "SEV-1"}, "priority"),
        ({"services": ["sis"], "priority": "P1", "severity": "SEV-9"}, "severity"),
        ({"services": ["nope"], "priority": "P1", "severity": "SEV-1"}, "services"),
        ({"services": ["sis"], "priority": "P1", "severity": "SEV-1", "roles": {"chef": "x"}}, "roles"),
        ({"services": ["sis"], "priority": "P1", "severity": "SEV-1", "bogus": 1}, "bogus"),
    ],
)
def test_declare_rejects_bad_fields(server: Running, body: dict, field: str) -> None:
    with server.admin() as c:
        r = c.post("/api/v1/incidents", json=body)
        assert r.status_code == 422, r.text
        err = r.json()["error"]
        assert err["code"] == "invalid"
        assert field in err["message"] or field in str(err["details"])
        assert c.get("/api/v1/incidents").json()["total"] == 0


def test_bad_json_is_400(server: Running) -> None:
    with server.admin() as c:
        r = c.post("/api/v1/incidents", content=b"{not json", headers={"content-type": "application/json"})
        assert r.status_code == 400
        assert r.json()["error"]["code"] == "bad_request"


LEGAL = [
    ("active", "stable"),
    ("active", "resolved"),
    ("stable", "active"),
    ("stable", "resolved"),
    ("resolved", "active"),
]
ILLEGAL = [
    ("active", "completed"),
    ("stable", "completed"),
    ("active", "active"),
    ("resolved", "stable"),
    ("resolved", "resolved"),
]
PATHS = {"active": [], "stable": ["stable"], "resolved": ["resolved"]}


def _move(c, ref: str, to: str):  # type: ignore[no-untyped-def]
    return c.post(f"/api/v1/incidents/{ref}/transitions", json={"to": to})


@pytest.mark.parametrize(("src", "dst"), LEGAL + ILLEGAL)
def test_transitions(server: Running, src: str, dst: str) -> None:
    inc = _declare(server)
    with server.admin() as c:
        for step in PATHS[src]:
            assert _move(c, inc["id"], step).status_code == 200
        r = _move(c, inc["id"], dst)
        if (src, dst) in LEGAL:
            assert r.status_code == 200, r.text
            assert r.json()["state"] == dst
            tl = c.get(f"/api/v1/incidents/{inc['id']}/timeline").json()["items"]
            assert tl[-1]["kind"] in ("state_changed", "postmortem")
            assert any(e["kind"] == "state_changed" and e["data"]["to"] == dst and e["actor"] == "admin" for e in tl)
        else:
            assert r.status_code == 409, r.text
            assert r.json()["error"]["code"] in ("illegal_transition", "conflict")


def test_state_timestamps(server: Running, clock: FakeClock) -> None:
    inc = _declare(server)
    with server.admin() as c:
        clock.advance(timedelta(minutes=10))
        assert _move(c, inc["id"], "stable").json()["stable_at"] == "2026-10-05T09:10:00Z"
        clock.advance(timedelta(minutes=10))
        body = _move(c, inc["id"], "resolved").json()
        assert body["resolved_at"] == "2026-10-05T09:20:00Z"
        assert body["next_update_due_at"] is None


def _ready_to_complete(c, ref: str) -> None:  # type: ignore[no-untyped-def]
    assert _move(c, ref, "resolved").status_code == 200
    r = c.patch(
        f"/api/v1/incidents/{ref}",
        json={"users_impacted": 1200, "impacts": "sign-in failed", "detection_method": "monitor"},
    )
    assert r.status_code == 200, r.text
    pm = c.get(f"/api/v1/incidents/{ref}/postmortem").json()
    filled = pm["markdown"].replace("TODO", "Done")
    assert c.put(f"/api/v1/incidents/{ref}/postmortem", json={"markdown": filled}).status_code == 200


def test_complete_only_by_commander_with_everything(server: Running, make_user) -> None:  # type: ignore[no-untyped-def]
    alice = make_user("alice")
    bob = make_user("bob")
    inc = _declare(server, alice, commander="alice")
    ref = inc["id"]
    with server.client(alice) as c:
        assert _move(c, ref, "resolved").status_code == 200
        r = _move(c, ref, "completed")
        assert r.status_code == 409
        missing = r.json()["error"]["details"]["missing"]
        assert missing == ["users_impacted", "impacts", "detection_method", "postmortem (still has TODO sections)"]
        assert c.get(f"/api/v1/incidents/{ref}").json()["completion_missing"] == missing
        assert _move(c, ref, "active").status_code == 200
        _ready_to_complete(c, ref)
    with server.client(bob) as c:
        r = _move(c, ref, "completed")
        assert r.status_code == 409
        assert r.json()["error"]["details"]["missing"] == ["only the commander (alice) can complete"]
    with server.client(alice) as c:
        r = _move(c, ref, "completed")
        assert r.status_code == 200, r.text
        assert r.json()["completed_at"] is not None
        assert _move(c, ref, "active").status_code == 409
        assert c.patch(f"/api/v1/incidents/{ref}", json={"impacts": "x"}).status_code == 409


def test_complete_requires_postmortem(server: Running, clock: FakeClock) -> None:
    inc = _declare(server, users_impacted=5, impacts="x", detection_method="monitor")
    with server.admin() as c:
        assert _move(c, inc["id"], "resolved").status_code == 200
        r = _move(c, inc["id"], "completed")
        assert r.json()["error"]["details"]["missing"] == ["postmortem (still has TODO sections)"]


def test_backdated_notes_in_true_order(server: Running, clock: FakeClock) -> None:
    inc = _declare(server)
    ref = inc["id"]
    with server.admin() as c:
        clock.advance(timedelta(minutes=20))
        assert c.post(f"/api/v1/incidents/{ref}/timeline", json={"text": "now"}).status_code == 201
        r = c.post(
            f"/api/v1/incidents/{ref}/timeline",
            json={"text": "first errors seen", "occurred_at": "2026-10-05T08:50:00Z"},
        )
        assert r.status_code == 201, r.text
        r = c.post(
            f"/api/v1/incidents/{ref}/timeline",
            json={"text": "rolled back", "occurred_at": "2026-10-05T09:05:00+00:00"},
        )
        assert r.status_code == 201
        texts = [e["text"] for e in c.get(f"/api/v1/incidents/{ref}/timeline").json()["items"]]
        assert texts.index("first errors seen") == 0
        assert texts.index("rolled back") < texts.index("now")
        assert texts[0] == "first errors seen" and texts[-1] == "now"
        r = c.post(f"/api/v1/incidents/{ref}/timeline", json={"text": "future", "occurred_at": "2026-10-05T12:00:00Z"})
        assert r.status_code == 422 and "future" in r.json()["error"]["message"]


def test_timeline_is_paged_with_a_bounded_default(server: Running) -> None:
    """An alert storm adds an entry per joining alert: the timeline comes a page at a time (issue 19)."""
    from warroom.incidents import service as incidents

    ref = _declare(server)["id"]
    with server.state.sessions.begin() as s:
        inc = incidents.get(s, ref)
        for i in range(250):
            incidents.add_timeline(
                s, inc, now=T0 + timedelta(seconds=i + 1), actor="system", kind="alert", text=f"alert {i}"
            )
    with server.admin() as c:
        first = c.get(f"/api/v1/incidents/{ref}/timeline")
        assert first.status_code == 200, first.text
        body = first.json()
        assert (body["total"], body["page"], body["per_page"], len(body["items"])) == (251, 1, 100, 100)
        assert body["items"][0]["kind"] == "declared" and body["items"][1]["text"] == "alert 0"
        seen = [e["text"] for e in body["items"]]
        for page in (2, 3):
            more = c.get(f"/api/v1/incidents/{ref}/timeline", params={"page": page}).json()
            seen += [e["text"] for e in more["items"]]
        assert seen[1:] == [f"alert {i}" for i in range(250)]
        big = c.get(f"/api/v1/incidents/{ref}/timeline", params={"per_page": 1000}).json()
        assert len(big["items"]) == 251
        too_big = c.get(f"/api/v1/incidents/{ref}/timeline", params={"per_page": 1001})
        assert too_big.status_code == 422 and too_big.json()["error"]["details"][0]["field"] == "per_page"


def test_status_update_resets_cadence(server: Running, clock: FakeClock) -> None:
    inc = _declare(server)
    ref = inc["id"]
    with server.admin() as c:
        clock.advance(timedelta(minutes=12))
        r = c.post(f"/api/v1/incidents/{ref}/updates", json={"message": "rolling back"})
        assert r.status_code == 201, r.text
        assert r.json()["on_time"] is True and r.json()["state"] == "active"
        got = c.get(f"/api/v1/incidents/{ref}").json()
        assert got["next_update_due_at"] == "2026-10-05T09:42:00Z"
        assert got["last_update_at"] == "2026-10-05T09:12:00Z"
        clock.advance(timedelta(minutes=31))
        late = c.post(f"/api/v1/incidents/{ref}/updates", json={"message": "still on it"})
        assert late.json()["on_time"] is False
        assert [u["message"] for u in c.get(f"/api/v1/incidents/{ref}/updates").json()] == [
            "rolling back",
            "still on it",
        ]
        assert c.post(f"/api/v1/incidents/{ref}/updates", json={"message": ""}).status_code == 422


def test_priority_change_moves_cadence_and_timeline(server: Running) -> None:
    inc = _declare(server)
    with server.admin() as c:
        r = c.patch(f"/api/v1/incidents/{inc['id']}", json={"priority": "P3", "severity": "SEV-4"})
        assert r.status_code == 200
        kinds = [e["kind"] for e in c.get(f"/api/v1/incidents/{inc['id']}/timeline").json()["items"]]
        assert "priority_changed" in kinds and "severity_changed" in kinds


def test_list_filters_and_pagination(server: Running) -> None:
    for i in range(5):
        _declare(server, services=["sis" if i % 2 else "usip"], priority=f"P{1 + i % 2}")
    with server.admin() as c:
        page = c.get("/api/v1/incidents", params={"per_page": 2}).json()
        assert page["total"] == 5 and [i["id"] for i in page["items"]] == ["INC-5", "INC-4"]
        assert c.get("/api/v1/incidents", params={"service": "sis"}).json()["total"] == 2
        assert c.get("/api/v1/incidents", params={"priority": "P1"}).json()["total"] == 3
        _move(c, "INC-1", "resolved")
        assert c.get("/api/v1/incidents", params={"state": "resolved"}).json()["total"] == 1
        assert c.get("/api/v1/incidents", params={"state": "bogus"}).status_code == 422
        assert c.get("/api/v1/incidents/INC-99").status_code == 404
        assert c.get("/api/v1/incidents/garbage").status_code == 404


def test_postmortem_durations_fixed_clock(server: Running, clock: FakeClock) -> None:
    """Scripted incident: declared 09:00, ack 09:00, stable 09:25, resolved 10:10."""
    inc = _declare(server)
    ref = inc["id"]
    with server.admin() as c:
        clock.set(T0 + timedelta(minutes=10))
        c.post(f"/api/v1/incidents/{ref}/updates", json={"message": "investigating"})
        c.post(
            f"/api/v1/incidents/{ref}/timeline",
            json={"text": "deploy 42 went out", "occurred_at": "2026-10-05T08:45:00Z"},
        )
        clock.set(T0 + timedelta(minutes=25))
        _move(c, ref, "stable")
        clock.set(T0 + timedelta(minutes=70))
        _move(c, ref, "resolved")
        pm = c.get(f"/api/v1/incidents/{ref}/postmortem").json()
        md = pm["markdown"]
        assert pm["version"] == 1 and pm["source"] == "generated"
        assert "Time to acknowledge: 0s" in md
        assert "Time to mitigate (stable): 25m 00s" in md
        assert "Time to resolve: 1h 10m" in md
        assert "investigating" in md
        assert md.index("deploy 42 went out") < md.index("Incident declared")
        assert "https://example.invalid/runbooks/sis" in md
        r = c.get(f"/api/v1/incidents/{ref}/postmortem", headers={"Accept": "text/markdown"})
        assert r.headers["content-type"].startswith("text/markdown")
        assert r.text == md


def test_postmortem_versions_keep_human_edits(server: Running) -> None:
    inc = _declare(server)
    ref = inc["id"]
    with server.admin() as c:
        _move(c, ref, "resolved")
        r = c.put(f"/api/v1/incidents/{ref}/postmortem", json={"markdown": "# edited by hand", "base_version": 1})
        assert r.status_code == 200 and r.json()["version"] == 2
        stale = c.put(f"/api/v1/incidents/{ref}/postmortem", json={"markdown": "# other edit", "base_version": 1})
        assert stale.status_code == 409
        assert c.post(f"/api/v1/incidents/{ref}/postmortem/generate").status_code == 409
        _move(c, ref, "active")
        _move(c, ref, "resolved")  # automatic regeneration must not bury the edit
        assert c.get(f"/api/v1/incidents/{ref}/postmortem").json()["markdown"] == "# edited by hand"
        r = c.post(f"/api/v1/incidents/{ref}/postmortem/generate", params={"force": "true"})
        assert r.status_code == 200 and r.json()["version"] == 3
        versions = c.get(f"/api/v1/incidents/{ref}/postmortem/versions").json()
        assert [(v["version"], v["source"]) for v in versions] == [(1, "generated"), (2, "edited"), (3, "generated")]
        old = c.get(f"/api/v1/incidents/{ref}/postmortem", params={"version": 2}).json()
        assert old["markdown"] == "# edited by hand"


def test_stale_patch_is_refused_with_what_changed(server: Running) -> None:
    """Issue 18 item 5, API side: If-Match carries the version the editor saw; an older one is a 409."""
    ref = _declare(server)["id"]
    with server.admin() as c:
        seen = c.get(f"/api/v1/incidents/{ref}")
        version = seen.json()["version"]
        assert seen.headers["etag"] == f'"{version}"'
        bob = c.patch(
            f"/api/v1/incidents/{ref}",
            json={"severity": "SEV-1", "impacts": "logins fail", "users_impacted": 5000},
            headers={"If-Match": f'"{version}"'},
        )
        assert bob.status_code == 200, bob.text
        assert bob.json()["version"] != version and bob.headers["etag"] == f'"{bob.json()["version"]}"'
        alice = c.patch(
            f"/api/v1/incidents/{ref}", json={"sub_services": "login.gov"}, headers={"If-Match": f'"{version}"'}
        )
        assert alice.status_code == 409, alice.text
        error = alice.json()["error"]
        assert error["code"] == "conflict" and "severity, users impacted, impacts" in error["message"]
        assert error["details"]["changed"] == {"severity": "SEV-1", "users_impacted": 5000, "impacts": "logins fail"}
        assert error["details"]["version"] == bob.json()["version"]
        now = c.get(f"/api/v1/incidents/{ref}").json()
        assert (now["severity"], now["users_impacted"], now["sub_services"]) == ("SEV-1", 5000, None)
        again = c.patch(
            f"/api/v1/incidents/{ref}",
            json={"sub_services": "login.gov"},
            headers={"If-Match": f'"{error["details"]["version"]}"'},
        )
        assert again.status_code == 200 and again.json()["severity"] == "SEV-1"
        bad = c.patch(f"/api/v1/incidents/{ref}", json={"title": "x"}, headers={"If-Match": '"nonsense"'})
        assert bad.status_code == 422 and bad.json()["error"]["details"]["field"] == "version"
        # without If-Match a PATCH changes only what it sends, as before
        assert c.patch(f"/api/v1/incidents/{ref}", json={"title": "Sign-in down"}).status_code == 200
