"""Declaring from alerts attaches them; API, CLI and web attach, detach and move alerts, each on the
timeline, with the counts following (issue 18 item 3). Both databases; the web flow in Chromium
(tests/test_web_browser_alerts.py)."""

from __future__ import annotations

import json
from typing import Any

from tests.support import cli
from tests.support.alerts import accepted, ingest_token, payload
from tests.support.server import Running
from warroom.core.clock import FakeClock


def fire(server: Running, token: str, key: str, service: str, users: int = 500, title: str | None = None) -> int:
    """A production alert (P2 with 500 users/hour: not declared automatically); returns its id."""
    body = payload("events_trigger")
    body["routing_key"], body["dedup_key"] = token, key
    body["payload"]["summary"] = title or f"{service} errors ({key})"
    body["payload"]["custom_details"] = {"service": service, "env": "prod", "users_per_hour": users}
    accepted(server, token, "events", body)
    with server.admin() as c:
        items = c.get("/api/v1/alerts", params={"service": service}).json()["items"]
    return int(next(a["id"] for a in items if a["dedup_key"] == key))


def _timeline(c: Any, ref: str) -> list[dict[str, Any]]:
    tl: list[dict[str, Any]] = c.get(f"/api/v1/incidents/{ref}/timeline").json()["items"]
    return tl


def test_declaring_from_an_alert_attaches_it_and_measures_from_it(server: Running, clock: FakeClock) -> None:
    token = ingest_token(server, "events")
    alert = fire(server, token, "sis-5xx", "sis", title="SiS 5xx above 5%")
    clock.advance(8 * 60)  # a person declares eight minutes later
    with server.admin() as c:
        assert [a["id"] for a in c.get("/api/v1/alerts", params={"unlinked": True}).json()["items"]] == [alert]
        r = c.post(
            "/api/v1/incidents", json={"services": ["sis"], "priority": "P2", "severity": "SEV-2", "alerts": [alert]}
        )
        assert r.status_code == 201, r.text
        inc = c.get(f"/api/v1/incidents/{r.json()['id']}").json()
        assert inc["first_alert_at"] == "2026-10-05T09:00:00Z" and inc["acknowledged_at"] == "2026-10-05T09:08:00Z"
        assert inc["monitors"] == ["SiS 5xx above 5%"] and inc["detection_method"] == "alert (events)"
        assert inc["alerts_total"] == 1 and inc["alerts"][0]["id"] == alert
        assert c.get(f"/api/v1/alerts/{alert}").json()["incident"] == inc["id"]
        assert c.get("/api/v1/alerts", params={"unlinked": True}).json()["total"] == 0
        entry = next(e for e in _timeline(c, inc["id"]) if e["kind"] == "alert")
        assert entry["text"].startswith(f"Alert {alert} attached at declaration: SiS 5xx above 5%")
        assert c.post(f"/api/v1/incidents/{inc['id']}/transitions", json={"to": "resolved"}).status_code == 200
        pm = c.get(f"/api/v1/incidents/{inc['id']}/postmortem").json()["markdown"]
    assert "Time to declare: 8m" in pm and "Time to acknowledge: 8m" in pm  # not 0s: MTTA from the alert
    with server.admin() as c:  # an unknown alert is refused, nothing is declared
        r = c.post(
            "/api/v1/incidents", json={"services": ["sis"], "priority": "P2", "severity": "SEV-2", "alerts": [999]}
        )
        assert r.status_code == 404 and c.get("/api/v1/incidents").json()["total"] == 1


def test_attach_detach_and_move_on_both_timelines(server: Running, clock: FakeClock) -> None:
    token = ingest_token(server, "events")
    a1, a2 = fire(server, token, "a1", "sis"), fire(server, token, "a2", "tou")
    with server.admin() as c:
        one = c.post(
            "/api/v1/incidents", json={"services": ["sis"], "priority": "P2", "severity": "SEV-2", "alerts": [a1]}
        )
        two = c.post("/api/v1/incidents", json={"services": ["tou"], "priority": "P2", "severity": "SEV-3"})
        ref1, ref2 = one.json()["id"], two.json()["id"]
        clock.advance(60)
        r = c.post(f"/api/v1/incidents/{ref2}/alerts", json={"alert_ids": [a2]})
        assert r.status_code == 200 and (r.json()["alerts_total"], r.json()["alerts_firing"]) == (1, 1)
        r = c.post(f"/api/v1/incidents/{ref2}/alerts", json={"alert_ids": [a1, a2]})  # a1 moves, a2 stays
        assert r.status_code == 200 and r.json()["alerts_total"] == 2
        assert c.get(f"/api/v1/incidents/{ref1}").json()["alerts_total"] == 0
        assert f"Alert {a1} moved to {ref2} by admin" in _timeline(c, ref1)[-1]["text"]
        texts = [e["text"] for e in _timeline(c, ref2) if e["kind"] == "alert"]
        assert texts[0].startswith(f"Alert {a2} attached by admin") and texts[1].startswith(
            f"Alert {a1} moved from {ref1}"
        )
        r = c.delete(f"/api/v1/incidents/{ref2}/alerts/{a2}")
        assert r.status_code == 200 and r.json()["alerts_total"] == 1
        assert _timeline(c, ref2)[-1]["text"].startswith(f"Alert {a2} detached by admin")
        assert c.get(f"/api/v1/alerts/{a2}").json()["incident"] is None
        assert c.delete(f"/api/v1/incidents/{ref2}/alerts/{a2}").status_code == 409  # not in it any more
        assert c.post(f"/api/v1/incidents/{ref2}/alerts", json={"alert_ids": [12345]}).status_code == 404
        # the automatic update's draft tells what changed
        draft = c.get(f"/api/v1/incidents/{ref2}/updates/draft").json()["text"]
        assert f"Alert {a1} moved from {ref1}" in draft and f"Alert {a2} detached by admin" in draft
        # a completed incident keeps its alerts
        c.patch(f"/api/v1/incidents/{ref2}", json={"users_impacted": 1, "impacts": "x", "detection_method": "alert"})
        assert c.post(f"/api/v1/incidents/{ref2}/transitions", json={"to": "resolved"}).status_code == 200
        pm = c.get(f"/api/v1/incidents/{ref2}/postmortem").json()["markdown"]
        assert (
            c.put(f"/api/v1/incidents/{ref2}/postmortem", json={"markdown": pm.replace("TODO", "d")}).status_code == 200
        )
        assert c.post(f"/api/v1/incidents/{ref2}/transitions", json={"to": "completed"}).status_code == 200
        r = c.post(f"/api/v1/incidents/{ref1}/alerts", json={"alert_ids": [a1]})
        assert r.status_code == 409 and "completed" in r.json()["error"]["message"]


def test_cli_declares_from_alerts_attaches_and_detaches(server: Running, db_url: str) -> None:
    token = ingest_token(server, "events")
    a1, a2 = fire(server, token, "c1", "sis"), fire(server, token, "c2", "sis")
    env = {"WARROOM_DATABASE_URL": db_url}
    inc = json.loads(
        cli.ok(
            "incident",
            "declare",
            "-s",
            "sis",
            "-p",
            "P2",
            "--severity",
            "SEV-3",
            "--alert",
            str(a1),
            "--as",
            "admin",
            "--json",
            env=env,
        )  # fmt: skip
    )
    ref = inc["id"]
    assert inc["detection_method"] == "alert (events)" and inc["first_alert_at"] is not None
    assert "1 alert(s) attached" in cli.ok("incident", "attach", ref, str(a2), "--as", "admin", env=env)
    again = cli.ok("incident", "attach", ref, str(a2), "--as", "admin", env=env)
    assert f"0 alert(s) attached to {ref} (2 in all)" in again
    out = cli.ok("incident", "detach", ref, str(a1), "--as", "admin", env=env)
    assert f"alert {a1} detached from {ref} (1 left)" in out
    shown = json.loads(cli.ok("incident", "show", ref, "--json", env=env))
    assert [a["id"] for a in shown["alerts"]] == [a2]
    assert any(e["text"].startswith(f"Alert {a1} detached by admin") for e in shown["timeline"])
    bad = cli.warroom("incident", "detach", ref, str(a1), env=env)
    assert bad.returncode != 0 and "is not in" in bad.stderr


def test_dashboard_declare_link_prefills_the_form(server: Running, clock: FakeClock) -> None:
    from tests.support.web import login, make_web_user

    token = ingest_token(server, "events")
    alert = fire(server, token, "w1", "tou", users=500)
    make_web_user(server, "alice")
    web, csrf = login(server, "alice")
    dash = web.get("/").text
    assert f'href="/incidents/new?alert={alert}"' in dash
    form = web.get(f"/incidents/new?alert={alert}").text
    assert f'name="alerts" value="{alert}"' in form and 'id="from-alert"' in form
    assert (
        '<option value="P2" selected>' in form and 'id="users" name="users_per_hour"' in form and 'value="500"' in form
    )
    assert 'value="tou" data-name="Terms of use" checked' in form and '<option value="1" selected>' in form
    r = web.post(
        "/incidents/new",
        data={"csrf": csrf, "services": "tou", "priority": "P2", "severity": "SEV-3", "alerts": str(alert)},
    )
    assert r.status_code == 303 and r.headers["location"] == "/incidents/INC-1"
    room = web.get("/incidents/INC-1").text
    assert f'data-alert="{alert}"' in room and "1 linked, 1 firing" in room
    r = web.post(f"/incidents/INC-1/alerts/{alert}/detach", data={"csrf": csrf})
    assert r.status_code == 303 and "No alerts linked." in web.get("/incidents/INC-1").text
    r = web.post("/incidents/INC-1/alerts", data={"csrf": csrf, "alert_ids": f"{alert}"})
    assert r.status_code == 303 and "1 linked, 1 firing" in web.get("/incidents/INC-1").text
