"""Triage over time on real HTTP + the due-job runner: escalation, declare, grouping, resolve."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.support.alerts import (
    accepted,
    alerts,
    dd,
    incident,
    incidents,
    ingest_token,
    payload,
    run_jobs,
    send,
    timeline,
)
from tests.support.server import Running
from warroom.alerts.models import Alert
from warroom.core.clock import FakeClock
from warroom.notifications.models import Notification


@pytest.fixture
def token(server: Running) -> str:
    return ingest_token(server)


def _policy(server: Running, **triage: Any) -> None:
    p = server.state.policy
    server.state.policy = p.model_copy(update={"triage": p.triage.model_copy(update=triage)})


def _kinds(server: Running, ref: str) -> list[str]:
    return [e["kind"] for e in timeline(server, ref)]


def test_unknown_impact_escalates_after_window_and_declares(server: Running, token: str, clock: FakeClock) -> None:
    accepted(server, token, "datadog", dd())
    [a] = alerts(server)["items"]
    assert (a["priority"], a["priority_rule"]) == ("P3", "unknown-impact-provisional")
    assert incidents(server) == []
    clock.advance(timedelta(minutes=14, seconds=39))  # Datadog's $DATE says it started at 08:59:40
    assert run_jobs(server) == 0
    clock.advance(timedelta(seconds=1))
    assert run_jobs(server) == 1
    [a] = alerts(server)["items"]
    assert (a["priority"], a["priority_rule"]) == ("P1", "unknown-impact-window")
    [inc] = incidents(server)
    assert (inc["priority"], inc["commander"], inc["services"]) == ("P1", "identity-oncall", ["sis"])
    assert inc["declared_automatically"] is True and a["incident"] == inc["id"]
    assert inc["first_alert_at"] == "2026-10-05T09:00:00Z"
    declared = timeline(server, inc["id"])[0]
    assert declared["kind"] == "declared" and "unknown-impact-window" in declared["text"]
    assert "15m" in declared["text"]
    detail = incident(server, inc["id"])
    assert [x["id"] for x in detail["alerts"]] == [a["id"]]
    with server.admin() as c:
        assert c.get("/api/v1/incidents").json()["items"][0]["alerts"] is None


def test_recovery_before_window_cancels_escalation(server: Running, token: str, clock: FakeClock) -> None:
    accepted(server, token, "datadog", dd())
    clock.advance(timedelta(minutes=10))
    accepted(server, token, "datadog", dd("Recovered"))
    clock.advance(timedelta(minutes=10))
    run_jobs(server)
    assert incidents(server) == [] and alerts(server)["items"][0]["priority"] == "P3"


def test_non_production_never_escalates_and_is_capped(server: Running, token: str, clock: FakeClock) -> None:
    accepted(server, token, "datadog", dd(tags="env:staging,service:sis,users_per_hour:5000"))
    accepted(server, token, "datadog", dd(tags="env:dev,service:sis", alert_id="2"))
    by_env = {a["environment"]: a for a in alerts(server)["items"]}
    assert (by_env["staging"]["tier"], by_env["staging"]["priority"], by_env["staging"]["priority_rule"]) == (
        2,
        "P3",
        "non-production-cap",
    )
    assert (by_env["dev"]["tier"], by_env["dev"]["priority"]) == (3, "P4")
    clock.advance(timedelta(hours=1))
    run_jobs(server)
    assert incidents(server) == []


@pytest.mark.parametrize(
    ("users", "prio", "rule"),
    [(1500, "P1", "matrix-t1-gt1000"), (150, "P2", "matrix-t1-gt100"), (3, "P3", "matrix-t1-gt0")],
)
def test_matrix_with_users_figure(server: Running, token: str, users: int, prio: str, rule: str) -> None:
    accepted(server, token, "datadog", dd(tags=f"env:prod,service:sis,users_per_hour:{users}"))
    [a] = alerts(server)["items"]
    assert (a["users_per_hour"], a["priority"], a["priority_rule"]) == (users, prio, rule)
    assert len(incidents(server)) == (1 if prio == "P1" else 0)


def test_users_figure_arriving_later_raises_and_declares(server: Running, token: str) -> None:
    accepted(server, token, "datadog", dd(tags="env:prod,service:sis"))
    accepted(server, token, "datadog", dd("Renotify", tags="env:prod,service:sis,users_per_hour:4000"))
    [a] = alerts(server)["items"]
    assert a["priority"] == "P1"
    [inc] = incidents(server)
    assert inc["priority"] == "P1"


def test_auto_declare_false_queues_a_prompt(server: Running, token: str, clock: FakeClock) -> None:
    _policy(server, auto_declare=False)
    accepted(server, token, "datadog", dd())
    clock.advance(timedelta(minutes=15))
    run_jobs(server)
    assert incidents(server) == []
    [a] = alerts(server)["items"]
    assert a["priority"] == "P1" and a["incident"] is None
    with server.state.sessions() as s:
        prompts = s.scalars(select(Notification).where(Notification.event == "declare_prompt")).all()
    assert len(prompts) == 1 and prompts[0].channel == "support"
    assert "Declare an incident?" in prompts[0].text and prompts[0].payload["alert_id"] == a["id"]


def test_grouping_into_open_incident_and_severity(server: Running, token: str) -> None:
    accepted(server, token, "grafana", _csp("logingov", users=2000))
    [inc] = incidents(server)
    assert (inc["services"], inc["severity"], inc["priority"]) == (["csp"], "SEV-2", "P1")
    accepted(server, token, "grafana", _csp("idme"))
    assert len(incidents(server)) == 1
    detail = incident(server, inc["id"])
    assert len(detail["alerts"]) == 2 and detail["severity"] == "SEV-1"
    entries = timeline(server, inc["id"])
    joined = [e for e in entries if e["kind"] == "alert" and e["data"]["event"] == "joined"]
    assert len(joined) == 1 and joined[0]["data"]["alert_id"] == detail["alerts"][1]["id"]
    assert any(e["kind"] == "severity_changed" and "severity-multi-csp" in e["text"] for e in entries)


def _csp(name: str, users: int | None = None) -> dict[str, Any]:
    body = payload("grafana_firing")
    alert = body["alerts"][0]
    alert["fingerprint"] = f"csp-{name}"
    alert["labels"]["csp"] = name
    if users is not None:
        alert["annotations"]["users_per_hour"] = str(users)
    return body


def test_human_lowered_priority_stays(server: Running, token: str, clock: FakeClock) -> None:
    accepted(server, token, "datadog", dd(tags="env:prod,service:sis,users_per_hour:5000"))
    [inc] = incidents(server)
    with server.admin() as c:
        assert c.patch(f"/api/v1/incidents/{inc['id']}", json={"priority": "P3"}).status_code == 200
    accepted(server, token, "datadog", dd(alert_id="2"))
    clock.advance(timedelta(minutes=15))
    run_jobs(server)
    got = incident(server, inc["id"])
    assert got["priority"] == "P3" and len(got["alerts"]) == 2
    entries = timeline(server, inc["id"])
    lowered = [e for e in entries if e["kind"] == "priority_changed"]
    assert lowered[-1]["actor"] == "admin" and lowered[-1]["data"]["to"] == "P3"
    assert any(e["kind"] == "priority_suggested" and e["data"]["suggested"] == "P1" for e in entries)


def test_priority_only_rises_automatically(server: Running, token: str) -> None:
    accepted(server, token, "datadog", dd(tags="env:prod,service:sis,users_per_hour:5000"))
    accepted(server, token, "datadog", dd(tags="env:prod,service:sis,users_per_hour:5", alert_id="9"))
    [inc] = incidents(server)
    assert inc["priority"] == "P1"
    assert {a["priority"] for a in incident(server, inc["id"])["alerts"]} == {"P1", "P3"}


def test_auto_resolve_after_stability_window_then_reopen(server: Running, token: str, clock: FakeClock) -> None:
    accepted(server, token, "events", payload("events_trigger"))
    [inc] = incidents(server)
    clock.advance(timedelta(minutes=5))
    accepted(server, token, "events", payload("events_resolve"))
    clock.advance(timedelta(minutes=9, seconds=59))
    run_jobs(server)
    assert incident(server, inc["id"])["state"] == "active"
    clock.advance(timedelta(seconds=1))
    assert run_jobs(server) == 1
    got = incident(server, inc["id"])
    assert got["state"] == "resolved"
    resolved = [e for e in timeline(server, inc["id"]) if e["kind"] == "state_changed"][-1]
    assert "stayed quiet for 10m" in resolved["text"]
    assert "alert 1" in resolved["text"]
    clock.advance(timedelta(minutes=20))
    accepted(server, token, "events", payload("events_trigger"))
    assert len(incidents(server)) == 1
    got = incident(server, inc["id"])
    assert got["state"] == "active" and len(got["alerts"]) == 2
    entries = timeline(server, inc["id"])
    assert entries[-2]["kind"] == "state_changed" and "reopen window" in entries[-2]["text"]
    assert entries[-1]["kind"] == "alert" and entries[-1]["data"]["event"] == "reopened"


def test_refire_inside_stability_window_keeps_incident_open(server: Running, token: str, clock: FakeClock) -> None:
    accepted(server, token, "events", payload("events_trigger"))
    accepted(server, token, "events", payload("events_resolve"))
    clock.advance(timedelta(minutes=5))
    accepted(server, token, "events", payload("events_trigger"))
    clock.advance(timedelta(minutes=30))
    run_jobs(server)
    [inc] = incidents(server)
    assert inc["state"] == "active"


def test_resolve_via_stable(server: Running, token: str, clock: FakeClock) -> None:
    _policy(server, resolve_via_stable=True)
    accepted(server, token, "events", payload("events_trigger"))
    accepted(server, token, "events", payload("events_resolve"))
    clock.advance(timedelta(minutes=10))
    run_jobs(server)
    assert incidents(server)[0]["state"] == "stable"
    clock.advance(timedelta(minutes=10))
    run_jobs(server)
    assert incidents(server)[0]["state"] == "resolved"


def test_reopen_window_passed_declares_new_incident(server: Running, token: str, clock: FakeClock) -> None:
    accepted(server, token, "events", payload("events_trigger"))
    accepted(server, token, "events", payload("events_resolve"))
    clock.advance(timedelta(minutes=10))
    run_jobs(server)
    clock.advance(timedelta(minutes=31))
    accepted(server, token, "events", payload("events_trigger"))
    assert [i["state"] for i in incidents(server)] == ["active", "resolved"]


def test_two_concurrent_deliveries_of_one_new_alert(server: Running, token: str) -> None:
    """Threads race the same new P1 alert; unique constraints leave one alert, one incident."""
    for round_ in range(4):
        body = dd(tags="env:prod,service:sis,users_per_hour:5000", alert_id=f"race{round_}")
        barrier = threading.Barrier(4)
        codes: list[int] = []

        def deliver(
            body: dict[str, Any] = body, barrier: threading.Barrier = barrier, codes: list[int] = codes
        ) -> None:
            barrier.wait(timeout=10)
            codes.append(send(server, token, "datadog", body).status_code)

        threads = [threading.Thread(target=deliver) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        assert codes == [202] * 4
    with server.state.sessions() as s:
        assert s.scalar(select(func.count(Alert.id))) == 4
    assert len(incidents(server)) == 1  # all four joined the one open incident of sis
    assert all(a["event_count"] == 1 for a in alerts(server)["items"])


def test_concurrent_different_alerts_one_service_one_incident(server: Running, token: str) -> None:
    barrier = threading.Barrier(6)
    codes: list[int] = []

    def deliver(i: int) -> None:
        body = dd(tags="env:prod,service:ssoe,users_per_hour:5000", alert_id=f"m{i}")
        barrier.wait(timeout=10)
        codes.append(send(server, token, "datadog", body).status_code)

    threads = [threading.Thread(target=deliver, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert codes == [202] * 6
    [inc] = incidents(server)
    assert len(incident(server, inc["id"])["alerts"]) == 6


def test_simulate_stores_nothing(server: Running, token: str) -> None:
    with server.admin() as c:
        r = c.post("/api/v1/triage/simulate", params={"source": "datadog"}, json=dd(tags="env:prod,service:sis"))
        assert r.status_code == 200, r.text
        [res] = r.json()["results"]
        assert (res["service"], res["tier"], res["priority"], res["declare"]) == ("sis", 1, "P3", False)
        assert res["rules"] == [
            "service-match-sis-0",
            "tier-env",
            "unknown-impact-provisional",
            "unknown-impact-window",
            "severity-default",
        ]
        assert "declare if still firing after" in res["action"] and "at once" not in res["action"]
        late = {**dd(tags="env:prod,service:sis"), "date": "2026-10-05T08:40:00Z"}  # started 20 minutes ago
        [res] = c.post("/api/v1/triage/simulate", params={"source": "datadog"}, json=late).json()["results"]
        assert res["started_at"] == "2026-10-05T08:40:00+00:00" and res["action"].endswith("already past, at once")
        r = c.post("/api/v1/triage/simulate", params={"source": "alertmanager"}, json=payload("alertmanager_firing"))
        results = r.json()["results"]
        assert [x["declare"] for x in results] == [False, True]
        assert results[1]["action"] == "declare an incident"
        r = c.post("/api/v1/triage/simulate", params={"source": "grafana"}, content=b"{nope")
        assert r.status_code == 400
    assert alerts(server)["total"] == 0 and incidents(server) == []
    assert send(server, token, "events", payload("events_trigger")).status_code == 202
    with server.admin() as c:
        r = c.post("/api/v1/triage/simulate", params={"source": "grafana"}, json=_csp("mhv"))
        assert r.json()["results"][0]["severity"] == "SEV-2"
        r = c.post("/api/v1/triage/simulate", params={"source": "events"}, json=payload("events_trigger"))
        assert r.json()["results"][0]["action"] == "update the open alert"
