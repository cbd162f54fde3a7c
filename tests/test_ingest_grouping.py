"""Issue 18: environments in grouping, the 15-minute clock from the sender's start time, flapping.

Real HTTP through the fast path (the only webhook path: the group-commit writer runs the same
store and grouping code in its thread or process), real due-job runs, a fake clock."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from tests.conftest import T0
from tests.support.alerts import accepted, alerts, dd, incident, incidents, ingest_token, payload, run_jobs, timeline
from tests.support.server import Running
from tests.support.web import login, make_web_user
from warroom.core.clock import FakeClock

PROD_P1 = "env:prod,service:sis,users_per_hour:5000"


@pytest.fixture
def token(server: Running) -> str:
    return ingest_token(server)


def _iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def _state_changes(server: Running, ref: str) -> list[str]:
    return [e["text"] for e in timeline(server, ref) if e["kind"] == "state_changed"]


def _resolve_quietly(server: Running, clock: FakeClock) -> None:
    """Past the stability window: the due auto-resolve runs."""
    clock.advance(server.state.policy.triage.stability_window)
    run_jobs(server)


# ---- 1. environments ----------------------------------------------------------------------------


def test_staging_alert_never_joins_or_holds_open_a_production_incident(
    server: Running, token: str, clock: FakeClock
) -> None:
    accepted(server, token, "datadog", dd(tags=PROD_P1, alert_id="8"))
    [inc] = incidents(server)
    out = accepted(server, token, "datadog", dd(tags="env:staging,service:sis", alert_id="9"))
    assert out["alerts"][0]["incident"] is None  # a triage record of its own environment
    assert [a["environment"] for a in incident(server, inc["id"])["alerts"]] == ["prod"]
    make_web_user(server, "alice")
    web, _ = login(server, "alice")
    room = web.get(f"/incidents/{inc['id']}").text  # shown as related, not joined
    assert 'id="related-alerts"' in room and f"{out['alerts'][0]['id']}: SiS sign-in error rate high" in room
    accepted(server, token, "datadog", dd("Recovered", tags=PROD_P1, alert_id="8"))
    _resolve_quietly(server, clock)  # the staging alert still fires: it does not hold production open
    assert incident(server, inc["id"])["state"] == "resolved"
    assert alerts(server, status="firing")["items"][0]["environment"] == "staging"


def test_staging_alert_attached_by_hand_does_not_hold_production_open(
    server: Running, token: str, clock: FakeClock
) -> None:
    accepted(server, token, "datadog", dd(tags=PROD_P1, alert_id="8"))
    [inc] = incidents(server)
    staging = accepted(server, token, "datadog", dd(tags="env:staging,service:sis", alert_id="9"))["alerts"][0]
    with server.admin() as c:  # a person may attach it (it is then listed), but it never holds production open
        assert c.post(f"/api/v1/incidents/{inc['id']}/alerts", json={"alert_ids": [staging["id"]]}).status_code == 200
    accepted(server, token, "datadog", dd("Recovered", tags=PROD_P1, alert_id="8"))
    _resolve_quietly(server, clock)
    got = incident(server, inc["id"])
    assert got["state"] == "resolved" and len(got["alerts"]) == 2


def test_new_staging_alert_never_reopens_production_and_fired_again_means_the_same_alert(
    server: Running, token: str, clock: FakeClock
) -> None:
    accepted(server, token, "datadog", dd(tags=PROD_P1, alert_id="8"))
    [inc] = incidents(server)
    accepted(server, token, "datadog", dd("Recovered", tags=PROD_P1, alert_id="8"))
    _resolve_quietly(server, clock)
    assert incident(server, inc["id"])["state"] == "resolved"
    accepted(server, token, "datadog", dd(tags="env:staging,service:sis,users_per_hour:5000", alert_id="9"))
    assert incident(server, inc["id"])["state"] == "resolved" and len(incidents(server)) == 1
    # another production alert of the service reopens it, but it did not fire "again"
    new = accepted(server, token, "datadog", dd(tags=PROD_P1, alert_id="10"))["alerts"][0]
    assert new["incident"] == inc["id"]
    reopened = _state_changes(server, inc["id"])[-1]
    assert f"new alert {new['id']} " in reopened and "fired again" not in reopened
    accepted(server, token, "datadog", dd("Recovered", tags=PROD_P1, alert_id="10"))
    _resolve_quietly(server, clock)
    again = accepted(server, token, "datadog", dd(tags=PROD_P1, alert_id="10"))["alerts"][0]
    assert again["incident"] == inc["id"] and again["id"] != new["id"]
    assert f"alert {again['id']} " in _state_changes(server, inc["id"])[-1]
    assert "fired again" in _state_changes(server, inc["id"])[-1]


def test_production_alert_never_reopens_a_lower_tier_incident(server: Running, token: str, clock: FakeClock) -> None:
    p = server.state.policy
    server.state.policy = p.model_copy(update={"must_declare": ["P1", "P2", "P3", "P4"]})
    accepted(server, token, "datadog", dd(tags="env:dev,service:sis", alert_id="dev"))
    [dev] = incidents(server)
    assert dev["priority"] == "P4"
    accepted(server, token, "datadog", dd("Recovered", tags="env:dev,service:sis", alert_id="dev"))
    _resolve_quietly(server, clock)
    accepted(server, token, "datadog", dd(tags=PROD_P1, alert_id="prod"))
    by_id = {i["id"]: i for i in incidents(server)}
    assert len(by_id) == 2 and by_id[dev["id"]]["state"] == "resolved"
    [prod] = [i for ref, i in by_id.items() if ref != dev["id"]]
    assert (prod["priority"], prod["state"]) == ("P1", "active")


def test_incident_declared_by_a_person_is_production(server: Running, token: str) -> None:
    with server.admin() as c:
        r = c.post("/api/v1/incidents", json={"services": ["sis"], "priority": "P2", "severity": "SEV-3"})
        assert r.status_code == 201, r.text
        ref = r.json()["id"]
    staging = accepted(server, token, "datadog", dd(tags="env:staging,service:sis", alert_id="s"))["alerts"][0]
    prod = accepted(server, token, "datadog", dd(tags="env:prod,service:sis", alert_id="p"))["alerts"][0]
    assert (staging["incident"], prod["incident"]) == (None, ref)


def test_incident_declared_from_staging_alerts_groups_staging(server: Running, token: str) -> None:
    first = accepted(server, token, "datadog", dd(tags="env:staging,service:sis", alert_id="s1"))["alerts"][0]
    with server.admin() as c:
        body = {"services": ["sis"], "priority": "P3", "severity": "SEV-3", "alerts": [first["id"]]}
        r = c.post("/api/v1/incidents", json=body)
        assert r.status_code == 201, r.text
        ref = r.json()["id"]
    staging = accepted(server, token, "datadog", dd(tags="env:staging,service:sis", alert_id="s2"))["alerts"][0]
    prod = accepted(server, token, "datadog", dd(tags="env:prod,service:sis", alert_id="p"))["alerts"][0]
    assert (staging["incident"], prod["incident"]) == (ref, None)


# ---- 2. the 15-minute clock -----------------------------------------------------------------------


def _am(starts_at: datetime | str, *, status: str = "firing", fingerprint: str = "fp-sis-1") -> dict[str, Any]:
    """One Alertmanager alert for sis in production, with no users figure."""
    body = payload("alertmanager_firing")
    alert = body["alerts"][0]
    alert.update(
        status=status,
        fingerprint=fingerprint,
        startsAt=starts_at if isinstance(starts_at, str) else _iso(starts_at),
        labels={**alert["labels"], "service": "sis"},
    )
    body.update(status=status, alerts=[alert])
    return body


def test_alert_that_started_20_minutes_ago_escalates_at_once(server: Running, token: str) -> None:
    """Alertmanager says it started 20 minutes ago (e.g. while warroom was down): its 15 minutes are over."""
    accepted(server, token, "alertmanager", _am(T0 - timedelta(minutes=20)))
    [a] = alerts(server)["items"]
    assert a["started_at"] == _iso(T0 - timedelta(minutes=20))
    assert run_jobs(server) == 1
    [a] = alerts(server)["items"]
    assert (a["priority"], a["priority_rule"]) == ("P1", "unknown-impact-window")
    [inc] = incidents(server)
    assert a["incident"] == inc["id"]
    make_web_user(server, "alice")
    web, _ = login(server, "alice")
    assert "started 2026-10-05 08:40" in web.get("/alerts").text


@pytest.mark.parametrize(
    ("starts", "started"),
    [
        (T0 - timedelta(minutes=5), T0 - timedelta(minutes=5)),  # counted from the sender's start
        (T0 + timedelta(minutes=2), T0),  # a little ahead (clock skew): from now
        (T0 + timedelta(hours=3), T0),  # far ahead: a wrong clock, ignored
        ("0001-01-01T00:00:00Z", T0),  # Go's zero time: none given
    ],
)
def test_start_time_bounded_by_clock_skew(
    server: Running, token: str, clock: FakeClock, starts: datetime | str, started: datetime
) -> None:
    accepted(server, token, "alertmanager", _am(starts))
    [a] = alerts(server)["items"]
    assert a["started_at"] == _iso(started)
    clock.advance(started + timedelta(minutes=15) - T0 - timedelta(seconds=1))
    assert run_jobs(server) == 0
    clock.advance(timedelta(seconds=1))
    assert run_jobs(server) == 1
    assert alerts(server)["items"][0]["priority"] == "P1"


def _flap(server: Running, token: str, clock: FakeClock, source: str, n: int, *, firing: bool) -> None:
    """One transition of a flapping alert: Datadog starts a new cycle key each time; Alertmanager keeps its key."""
    if source == "datadog":
        body = dd("Triggered" if firing else "Recovered", cycle=f"cycle-{n}")
        body["date"] = str(int(clock.now().timestamp() * 1000))
    else:
        body = _am(clock.now() if firing else T0, status="firing" if firing else "resolved")
    accepted(server, token, source, body)


@pytest.mark.parametrize("source", ["datadog", "alertmanager"])
def test_flapping_alert_keeps_its_clock_and_escalates(
    server: Running, token: str, clock: FakeClock, source: str
) -> None:
    """Trigger 60 s, recover 5 s, four times (80% of the time firing), then it keeps firing: four
    alerts, one episode, one clock that started with the first trigger."""
    for n in range(4):
        _flap(server, token, clock, source, n, firing=True)
        clock.advance(timedelta(seconds=60))
        _flap(server, token, clock, source, n, firing=False)
        clock.advance(timedelta(seconds=5))
        assert run_jobs(server) == 0
    _flap(server, token, clock, source, 4, firing=True)
    page = alerts(server)
    assert page["total"] == 5 and {a["started_at"] for a in page["items"]} == {_iso(T0)}
    clock.advance(T0 + timedelta(minutes=15) - clock.now() - timedelta(seconds=1))
    assert run_jobs(server) == 0
    clock.advance(timedelta(seconds=1))
    assert run_jobs(server) == 1
    [inc] = incidents(server)
    assert inc["priority"] == "P1"


def test_refire_after_the_flap_window_starts_a_new_clock(server: Running, token: str, clock: FakeClock) -> None:
    _flap(server, token, clock, "alertmanager", 0, firing=True)
    clock.advance(timedelta(minutes=1))
    _flap(server, token, clock, "alertmanager", 0, firing=False)
    clock.advance(server.state.policy.triage.flap_window + timedelta(seconds=1))
    _flap(server, token, clock, "alertmanager", 1, firing=True)
    newest = alerts(server)["items"][0]
    assert newest["status"] == "firing" and newest["started_at"] == _iso(clock.now())
