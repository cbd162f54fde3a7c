"""Every source over real HTTP, from realistic payloads: transitions, duplicates, auth, limits."""

from __future__ import annotations

import base64
import json

import pytest

from tests.support.alerts import accepted, alerts, dd, incidents, ingest_token, payload, send
from tests.support.server import Running

FIRING = ["Triggered", "Re-Triggered", "Warn", "Re-Warn", "No Data", "Re-No Data", "Renotify"]


@pytest.fixture
def token(server: Running) -> str:
    return ingest_token(server)


@pytest.mark.parametrize("transition", FIRING)
def test_datadog_rich_firing_transitions_then_recovered(server: Running, token: str, transition: str) -> None:
    out = accepted(server, token, "datadog", dd(transition))
    [got] = out["alerts"]
    assert got["status"] == "firing" and got["dedup_key"] == "48213771:6922405214862131415"
    a = alerts(server)["items"][0]
    assert (a["status"], a["transition"], a["service"], a["environment"], a["tier"]) == (
        "firing",
        transition,
        "sis",
        "eks-prod",
        1,
    )
    assert a["priority_hint"] == "P2" and a["link"].startswith("https://app.datadoghq.com/")
    accepted(server, token, "datadog", dd("Recovered"))
    page = alerts(server)
    assert page["total"] == 1
    a = page["items"][0]
    assert (a["status"], a["transition"]) == ("resolved", "Recovered")
    assert a["resolved_at"] is not None and a["event_count"] == 2


def test_datadog_every_transition_on_one_cycle(server: Running, token: str) -> None:
    for transition in [*FIRING, "Recovered"]:
        accepted(server, token, "datadog", dd(transition))
    [a] = alerts(server)["items"]
    assert a["event_count"] == 8 and a["status"] == "resolved"
    with server.admin() as c:
        events = c.get(f"/api/v1/alerts/{a['id']}").json()["events"]
    assert [e["transition"] for e in events] == [*FIRING, "Recovered"]
    assert events[0]["raw"]["alert_id"] == "48213771"


@pytest.mark.parametrize("transition", [*FIRING, "Recovered"])
def test_datadog_default_body_reads_transition_from_title(server: Running, token: str, transition: str) -> None:
    body = payload("datadog_default_triggered")
    body["title"] = body["title"].replace("Triggered", transition)
    [got] = accepted(server, token, "datadog", body)["alerts"]
    assert got["status"] == ("resolved" if transition == "Recovered" else "firing")
    [a] = alerts(server)["items"]
    assert a["transition"] == transition and a["title"] == "SiS sign-in error rate high"
    assert (a["service"], a["environment"], a["tier"]) == ("sis", "prod", 1)


def test_datadog_default_bodies_pair_trigger_and_recovery(server: Running, token: str) -> None:
    first = accepted(server, token, "datadog", payload("datadog_default_triggered"))["alerts"][0]
    second = accepted(server, token, "datadog", payload("datadog_default_recovered"))["alerts"][0]
    assert first["id"] == second["id"] and second["status"] == "resolved"
    assert alerts(server, status="resolved")["total"] == 1


def test_datadog_body_without_transition_is_400(server: Running, token: str) -> None:
    r = send(server, token, "datadog", {"title": "CPU high", "id": "1"})
    assert r.status_code == 400 and "transition" in r.json()["error"]["message"]
    assert alerts(server)["total"] == 0


def test_duplicate_delivery_changes_nothing(server: Running, token: str) -> None:
    first = accepted(server, token, "datadog", dd())["alerts"][0]
    again = accepted(server, token, "datadog", dd())["alerts"][0]
    assert again["duplicate"] is True and again["id"] == first["id"] and not first["duplicate"]
    [a] = alerts(server)["items"]
    assert a["event_count"] == 1
    accepted(server, token, "datadog", dd("Recovered"))
    assert accepted(server, token, "datadog", dd("Recovered"))["alerts"][0]["duplicate"]
    [a] = alerts(server)["items"]
    assert a["event_count"] == 2


def test_new_cycle_after_recovery_is_a_new_alert(server: Running, token: str) -> None:
    accepted(server, token, "datadog", dd())
    accepted(server, token, "datadog", dd("Recovered"))
    accepted(server, token, "datadog", dd(cycle="999"))
    page = alerts(server)
    assert page["total"] == 2 and [a["status"] for a in page["items"]] == ["firing", "resolved"]


def test_alertmanager_batch_status_not_endsat_and_unknown_keys(server: Running, token: str) -> None:
    out = accepted(server, token, "alertmanager", payload("alertmanager_firing"))
    assert [a["status"] for a in out["alerts"]] == ["firing", "firing"]  # one has a future endsAt
    assert [a["dedup_key"] for a in out["alerts"]] == ["b7f2c9a1d3e40f11", "0c4e11aa9b7d2f38"]
    page = alerts(server, source="alertmanager")
    assert page["total"] == 2
    by_key = {a["dedup_key"]: a for a in page["items"]}
    assert by_key["0c4e11aa9b7d2f38"]["users_per_hour"] == 1500
    assert by_key["0c4e11aa9b7d2f38"]["priority"] == "P1"
    assert by_key["b7f2c9a1d3e40f11"]["priority"] == "P3"
    assert by_key["b7f2c9a1d3e40f11"]["title"] == "SSOe error rate above 10% on ssoe-a"
    out = accepted(server, token, "alertmanager", payload("alertmanager_resolved"))
    assert out["alerts"][0]["status"] == "resolved"
    assert {a["dedup_key"] for a in alerts(server, status="firing")["items"]} == {"0c4e11aa9b7d2f38"}
    resent = accepted(server, token, "alertmanager", payload("alertmanager_resolved"))
    assert resent["alerts"][0]["duplicate"] is True


def test_alertmanager_truncated_alerts_reported(server: Running, token: str) -> None:
    body = payload("alertmanager_firing")
    body["truncatedAlerts"] = 37
    assert accepted(server, token, "alertmanager", body)["truncated_alerts"] == 37


def test_alertmanager_batch_of_100(server: Running, token: str) -> None:
    body = payload("alertmanager_firing")
    template = body["alerts"][0]
    body["alerts"] = [
        {**template, "fingerprint": f"fp{i:04d}", "labels": {**template["labels"], "instance": f"i{i}"}}
        for i in range(100)
    ]
    out = accepted(server, token, "alertmanager", body)
    assert len(out["alerts"]) == 100 and alerts(server)["total"] == 100


@pytest.mark.parametrize("method", ["POST", "PUT"])
def test_grafana_post_and_put(server: Running, token: str, method: str) -> None:
    out = accepted(server, token, "grafana", payload("grafana_firing"), method=method)
    assert out["alerts"][0]["status"] == "firing"
    [a] = alerts(server, source="grafana")["items"]
    assert (a["service"], a["tier"], a["link"]) == ("csp", 1, "https://grafana.internal/d/identity-csp?viewPanel=4")
    assert a["labels"]["csp"] == "logingov"
    out = accepted(server, token, "grafana", payload("grafana_resolved"), method=method)
    assert out["alerts"][0]["status"] == "resolved"
    assert alerts(server, status="resolved")["total"] == 1


def test_grafana_legacy_alerting_then_ok(server: Running, token: str) -> None:
    """Grafana 8-10's legacy dashboard alerts (ruleId, state, evalMatches; no `alerts` list)."""
    out = accepted(server, token, "grafana", payload("grafana_legacy_alerting"))
    assert out["alerts"][0]["status"] == "firing" and out["alerts"][0]["dedup_key"] == "legacy:1:12"
    [a] = alerts(server, source="grafana")["items"]
    assert (a["service"], a["tier"], a["title"]) == ("csp", 1, "CSP login.gov success rate")
    assert a["labels"]["csp"] == "logingov" and a["link"].startswith("https://grafana.internal/d/identity-csp")
    for state in ("pending", "paused"):  # nothing changes
        quiet = {**payload("grafana_legacy_alerting"), "state": state}
        assert accepted(server, token, "grafana", quiet)["alerts"] == []
    assert alerts(server, status="firing")["total"] == 1
    ok = {**payload("grafana_legacy_alerting"), "state": "ok", "evalMatches": [], "title": "[OK] CSP"}
    out = accepted(server, token, "grafana", ok, method="PUT")
    assert out["alerts"][0]["status"] == "resolved"
    assert alerts(server, status="resolved")["total"] == 1 and alerts(server, status="firing")["total"] == 0
    bad = send(server, token, "grafana", {**payload("grafana_legacy_alerting"), "state": "exploded"})
    assert bad.status_code == 400 and "state" in bad.text


def test_events_trigger_ack_resolve_and_retrigger(server: Running, token: str) -> None:
    r = send(server, token, "events", payload("events_trigger"))
    assert r.status_code == 202
    assert r.json() == {"status": "success", "message": "Event processed", "dedup_key": "mpi-lookup-timeouts-prod"}
    [a] = alerts(server)["items"]
    assert (a["service"], a["users_per_hour"], a["priority"], a["status"]) == ("mpi", 2400, "P1", "firing")
    assert a["link"] == "https://grafana.internal/d/mpi"
    assert send(server, token, "events", payload("events_acknowledge")).status_code == 202
    [a] = alerts(server)["items"]
    assert a["status"] == "firing" and a["event_count"] == 2
    assert send(server, token, "events", payload("events_resolve")).status_code == 202
    [a] = alerts(server)["items"]
    assert a["status"] == "resolved"
    assert send(server, token, "events", payload("events_trigger")).status_code == 202
    page = alerts(server)
    assert page["total"] == 2 and page["items"][0]["status"] == "firing"


def test_events_trigger_without_dedup_key_gets_one(server: Running, token: str) -> None:
    body = payload("events_trigger")
    del body["dedup_key"]
    key = send(server, token, "events", body).json()["dedup_key"]
    assert len(key) == 32 and alerts(server)["items"][0]["dedup_key"] == key


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"event_action": "explode"}, "event_action"),
        ({"payload": {"source": "x", "severity": "critical"}}, "payload.summary"),
        ({"payload": {"summary": "x", "source": "x", "severity": "fatal"}}, "payload.severity"),
        ({"event_action": "resolve", "dedup_key": None}, "dedup_key"),
    ],
)
def test_events_invalid_is_400_like_pagerduty(server: Running, token: str, change: dict, needle: str) -> None:
    body = {**payload("events_trigger"), **change}
    r = send(server, token, "events", body)
    assert r.status_code == 400
    got = r.json()
    assert got["status"] == "invalid event" and got["message"] == "Event object is invalid"
    assert any(needle in e for e in got["errors"])
    assert alerts(server)["total"] == 0


def test_events_routing_key_may_carry_the_token(server: Running, token: str) -> None:
    body = {**payload("events_trigger"), "routing_key": token}
    assert send(server, None, "events", body).status_code == 202


def test_bad_json_is_400_and_nothing_stored(server: Running, token: str) -> None:
    for source in ("datadog", "alertmanager", "grafana", "events"):
        r = send(server, token, source, None, raw=b'{"title": "[Triggered] x",')
        assert r.status_code == 400, source
        assert "not valid JSON" in r.json()["error"]["message"]
    r = send(server, token, "alertmanager", {"alerts": "nope"})
    assert r.status_code == 400 and "alerts" in r.json()["error"]["message"]
    assert alerts(server)["total"] == 0


def test_wrong_or_missing_token_is_401_and_nothing_stored(server: Running, token: str) -> None:
    r = send(server, None, "datadog", dd())
    assert r.status_code == 401 and "missing ingest token" in r.json()["error"]["message"]
    r = send(server, "wri_not-a-real-token-at-all-000000000000", "datadog", dd())
    assert r.status_code == 401 and "invalid" in r.json()["error"]["message"]
    r = send(server, server.admin_token, "datadog", dd())
    assert r.status_code == 403 and "ingest token" in r.json()["error"]["message"]
    with server.admin() as c:
        tid = [t for t in c.get("/api/v1/tokens").json() if t["kind"] == "ingest"][0]["id"]
        c.delete(f"/api/v1/tokens/{tid}")
    assert send(server, token, "datadog", dd()).status_code == 401
    assert alerts(server)["total"] == 0


def test_token_as_basic_password_or_query(server: Running, token: str) -> None:
    basic = base64.b64encode(f"datadog:{token}".encode()).decode()
    with server.client() as c:
        r = c.post("/api/v1/ingest/datadog", content=json.dumps(dd()), headers={"Authorization": f"Basic {basic}"})
        assert r.status_code == 202, r.text
        r = c.post(f"/api/v1/ingest/datadog?token={token}", json=dd("Recovered"))
        assert r.status_code == 202, r.text
    assert alerts(server)["items"][0]["event_count"] == 2


def test_source_named_token_only_opens_its_source(server: Running) -> None:
    dd_token = ingest_token(server, "datadog")
    assert send(server, dd_token, "datadog", dd()).status_code == 202
    r = send(server, dd_token, "grafana", payload("grafana_firing"))
    assert r.status_code == 403 and "for datadog" in r.json()["error"]["message"]


def test_oversize_body_is_413(server: Running, token: str) -> None:
    body = dd()
    body["event_msg"] = "x" * (server.state.settings.max_ingest_body_bytes + 10)
    r = send(server, token, "datadog", body)
    assert r.status_code == 413 and r.json()["error"]["code"] == "payload_too_large"
    assert alerts(server)["total"] == 0


def test_unmapped_alert_is_kept_with_fallback_service(server: Running, token: str) -> None:
    accepted(server, token, "datadog", dd(tags="env:prod,team:billing", alert_id="777"))
    page = alerts(server, service="unmapped")
    assert page["total"] == 1
    a = page["items"][0]
    assert a["mapped"] is False and a["tier"] == 1 and a["priority"] == "P3"


def test_alert_list_filters_pages_and_detail(server: Running, token: str) -> None:
    for i in range(5):
        accepted(server, token, "datadog", dd(alert_id=str(100 + i), cycle=str(i)))
    accepted(server, token, "grafana", payload("grafana_firing"))
    accepted(server, token, "datadog", dd("Recovered", alert_id="100", cycle="0"))
    assert alerts(server)["total"] == 6
    assert alerts(server, source="datadog", status="firing")["total"] == 4
    page = alerts(server, per_page=2, page=2)
    assert len(page["items"]) == 2 and page["total"] == 6
    assert alerts(server, service="csp")["items"][0]["source"] == "grafana"
    assert alerts(server, unlinked="true", status="firing")["total"] == 5
    with server.admin() as c:
        assert c.get("/api/v1/alerts/999").status_code == 404
        assert c.get("/api/v1/alerts", params={"status": "bogus"}).status_code == 422
    assert incidents(server) == []
