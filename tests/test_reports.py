"""Report figures on a scripted month of incidents, against hand-computed expectations."""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import T0
from tests.support import cli
from tests.support.alert_rows import add_alert
from tests.support.server import Running
from warroom.core.clock import FakeClock
from warroom.incidents import service as incidents
from warroom.incidents.models import Incident
from warroom.incidents.schemas import IncidentCreate
from warroom.reports import charts, rules

OOB_FORM = {
    "prs": ["https://github.com/example/identity/pull/7"],
    "platform_severity": "high",
    "active_daily_users": 5000,
    "fix_confirmed_in_staging": True,
    "description": "fix",
    "reason": "logins fail",
    "validation_steps": "sign in",
    "validated_by": "bob",
    "confirm_after_cutoff": True,
    "confirm_cannot_wait": True,
    "confirm_postmortem": True,
}
MIN = 60


def _at(clock: FakeClock, minutes: float) -> None:
    clock.set(T0 + timedelta(minutes=minutes))


def script(server: Running, clock: FakeClock) -> None:
    """Five incidents; October 2026 holds A, B, C (T0 is Mon 2026-10-05 09:00 UTC).

    A  P1 SEV-1 sis+csp  first alert T0-10m, auto-declared T0, ack T0+5m (first update, on time),
       stable T0+20m, late update T0+40m (due T0+35m), resolved T0+60m; 3 alerts; OOB deployed.
    B  P1 SEV-2 sis      declared by hand T0+120m (ack at once), update T0+130m (on time),
       resolved T0+180m without stable; 1 alert; OOB requested then rejected.
    C  P3 SEV-4 tou      declared 2026-10-20 10:00, still active, 2 missed updates.
    D  P1 SEV-1 sis      declared 2026-11-01 00:00 (outside: the end is exclusive).
    E  P2 SEV-3 usip     declared 2026-09-30 23:59:59 (outside).
    """
    st = server.state
    with st.sessions.begin() as s:
        a = incidents.declare(
            s,
            policy=st.policy,
            now=T0,
            actor="warroom",
            automatic=True,
            first_alert_at=T0 - timedelta(minutes=10),
            data=IncidentCreate(services=["sis", "csp"], priority="P1", severity="SEV-1"),
        )
        a_id = a.id
    for _ in range(3):
        add_alert(st.sessions, service="sis", at=T0 - timedelta(minutes=10), incident_id=a_id)
    with server.admin() as c:
        _at(clock, 5)
        assert c.post("/api/v1/incidents/INC-1/updates", json={"message": "looking"}).status_code == 201
        oob = c.post("/api/v1/incidents/INC-1/oob-requests", json=OOB_FORM).json()["id"]
        base = f"/api/v1/incidents/INC-1/oob-requests/{oob}"
        assert c.post(f"{base}/transitions", json={"to": "requested"}).status_code == 200
        assert c.post("/api/v1/users", json={"handle": "platform"}).status_code == 201
        platform = c.post("/api/v1/tokens", json={"user": "platform"}).json()["token"]
        with server.client(platform) as p:  # nobody approves their own request
            assert p.post(f"{base}/transitions", json={"to": "approved"}).status_code == 200
        for item in ("paging_incident", "leadership_ack", "channels_notified"):
            c.post(f"{base}/checklist", json={"item": item})
        assert c.post(f"{base}/transitions", json={"to": "deployed"}).status_code == 200
        _at(clock, 20)
        assert c.post("/api/v1/incidents/INC-1/transitions", json={"to": "stable"}).status_code == 200
        _at(clock, 40)
        r = c.post("/api/v1/incidents/INC-1/updates", json={"message": "watching"})
        assert r.status_code == 201 and r.json()["on_time"] is False
        _at(clock, 60)
        assert c.post("/api/v1/incidents/INC-1/transitions", json={"to": "resolved"}).status_code == 200

        _at(clock, 120)
        assert (
            c.post("/api/v1/incidents", json={"services": ["sis"], "priority": "P1", "severity": "SEV-2"}).status_code
            == 201
        )
        add_alert(st.sessions, service="sis", at=T0 + timedelta(minutes=119), incident_id=2)
        _at(clock, 130)
        assert c.post("/api/v1/incidents/INC-2/updates", json={"message": "x"}).json()["on_time"] is True
        oob = c.post("/api/v1/incidents/INC-2/oob-requests", json=OOB_FORM).json()["id"]
        base = f"/api/v1/incidents/INC-2/oob-requests/{oob}"
        assert c.post(f"{base}/transitions", json={"to": "requested"}).status_code == 200
        assert c.post(f"{base}/transitions", json={"to": "rejected", "reason": "can wait"}).status_code == 200
        c.post("/api/v1/incidents/INC-2/oob-requests", json={})  # a draft never counts
        _at(clock, 180)
        assert c.post("/api/v1/incidents/INC-2/transitions", json={"to": "resolved"}).status_code == 200

        for when, body in (
            (datetime(2026, 10, 20, 10, tzinfo=UTC), {"services": ["tou"], "priority": "P3", "severity": "SEV-4"}),
            (datetime(2026, 11, 1, tzinfo=UTC), {"services": ["sis"], "priority": "P1", "severity": "SEV-1"}),
            (
                datetime(2026, 9, 30, 23, 59, 59, tzinfo=UTC),
                {"services": ["usip"], "priority": "P2", "severity": "SEV-3"},
            ),
        ):
            clock.set(when)
            assert c.post("/api/v1/incidents", json=body).status_code == 201
    with st.sessions.begin() as s:
        s.get(Incident, 3).missed_updates = 2  # type: ignore[union-attr]  (what the reminders write)


P1 = {
    "key": "P1",
    "incidents": 2,
    "acknowledged": 2,
    "mitigated": 2,
    "resolved": 2,
    "mtta_seconds": 450.0,  # (15m + 0) / 2
    "time_to_mitigate_seconds": 2700.0,  # (30m + 60m) / 2
    "time_to_resolve_seconds": 3900.0,  # (70m + 60m) / 2
    "updates": 3,
    "updates_on_time": 2,
    "late_updates": 1,
    "update_compliance": 0.6667,
    "missed_updates": 0,
    "alerts": 4,
    "alerts_per_incident": 2.0,
    "oob_requests": 2,
    "oob_deploys": 1,
}
P3 = {
    "key": "P3",
    "incidents": 1,
    "acknowledged": 1,
    "mitigated": 0,
    "resolved": 0,
    "mtta_seconds": 0.0,
    "time_to_mitigate_seconds": None,
    "time_to_resolve_seconds": None,
    "updates": 0,
    "updates_on_time": 0,
    "late_updates": 0,
    "update_compliance": None,
    "missed_updates": 2,
    "alerts": 0,
    "alerts_per_incident": 0.0,
    "oob_requests": 0,
    "oob_deploys": 0,
}
TOTAL = {
    "key": "total",
    "incidents": 3,
    "acknowledged": 3,
    "mitigated": 2,
    "resolved": 2,
    "mtta_seconds": 300.0,
    "time_to_mitigate_seconds": 2700.0,
    "time_to_resolve_seconds": 3900.0,
    "updates": 3,
    "updates_on_time": 2,
    "late_updates": 1,
    "update_compliance": 0.6667,
    "missed_updates": 2,
    "alerts": 4,
    "alerts_per_incident": 1.333,
    "oob_requests": 2,
    "oob_deploys": 1,
}
CSP = {
    "key": "csp",
    "incidents": 1,
    "acknowledged": 1,
    "mitigated": 1,
    "resolved": 1,
    "mtta_seconds": 900.0,
    "time_to_mitigate_seconds": 1800.0,
    "time_to_resolve_seconds": 4200.0,
    "updates": 2,
    "updates_on_time": 1,
    "late_updates": 1,
    "update_compliance": 0.5,
    "missed_updates": 0,
    "alerts": 3,
    "alerts_per_incident": 3.0,
    "oob_requests": 1,
    "oob_deploys": 1,
}
OCTOBER = {"from": "2026-10-01T00:00:00Z", "to": "2026-11-01T00:00:00Z"}


def _report(server: Running, **params: str) -> dict:
    with server.admin() as c:
        r = c.get("/api/v1/reports", params=params)
        assert r.status_code == 200, r.text
        return dict(r.json())


def test_report_figures_by_priority_service_severity_month(server: Running, clock: FakeClock) -> None:
    script(server, clock)
    got = _report(server, **OCTOBER, group_by="priority")
    assert got["rows"] == [P1, P3]
    assert got["total"] == TOTAL
    assert got["start"] == "2026-10-01T00:00:00Z" and got["end"] == "2026-11-01T00:00:00Z"

    got = _report(server, **OCTOBER, group_by="service")
    assert [r["key"] for r in got["rows"]] == ["sis", "tou", "csp"]  # policy order
    assert got["rows"][0] == {**P1, "key": "sis"}
    assert got["rows"][1] == {**P3, "key": "tou"}
    assert got["rows"][2] == CSP
    assert got["total"] == TOTAL  # A counts in two service rows but once in the total

    got = _report(server, **OCTOBER, group_by="severity")
    assert [(r["key"], r["incidents"], r["mtta_seconds"]) for r in got["rows"]] == [
        ("SEV-1", 1, 900.0),
        ("SEV-2", 1, 0.0),
        ("SEV-4", 1, 0.0),
    ]

    got = _report(server, **{"from": "2026-09-01", "to": "2026-12-01"}, group_by="month")
    assert [(r["key"], r["incidents"]) for r in got["rows"]] == [("2026-09", 1), ("2026-10", 3), ("2026-11", 1)]


def test_report_csv_markdown_chart_and_validation(server: Running, clock: FakeClock) -> None:
    script(server, clock)
    with server.admin() as c:
        r = c.get("/api/v1/reports", params={**OCTOBER, "format": "csv"})
        assert r.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(r.text)))
        assert [row["key"] for row in rows] == ["P1", "P3", "total"]
        assert rows[0]["mtta_seconds"] == "450.0" and rows[1]["time_to_resolve_seconds"] == ""

        r = c.get("/api/v1/reports/monthly", params={"month": "2026-10"})
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/markdown")
        md = r.text
        assert md.startswith("# Incident report 2026-10: identity")
        assert "- Incidents declared: **3**" in md
        assert "- Mean time to acknowledge (MTTA): **5m 00s**" in md
        assert "- Mean time to mitigate: **45m 00s**" in md
        assert "- Mean time to resolve: **1h 05m**" in md
        assert "- Status updates on time: **66.7%** (2 of 3; 2 missed)" in md
        assert "- Out-of-band deploys: **1** (of 2 requested)" in md
        assert "| csp | 1 | 15m 00s | 30m 00s | 1h 10m | 50.0% | 0 | 3 | 1 |" in md

        r = c.get(
            "/api/v1/reports/chart.svg", params={**OCTOBER, "group_by": "service", "metric": "time_to_resolve_seconds"}
        )
        assert r.headers["content-type"].startswith("image/svg+xml")
        svg = ET.fromstring(r.text)
        ns = "{http://www.w3.org/2000/svg}"
        assert len(svg.findall(f"{ns}rect")) == 2  # sis and csp; tou has no resolved incident
        assert "n/a" in r.text and "1h 10m" in r.text

        for params in (
            {**OCTOBER, "group_by": "team"},
            {"from": "2026-10-05", "to": "2026-10-01"},
            {"to": "2026-10-01"},
        ):
            r = c.get("/api/v1/reports", params=params)
            assert r.status_code == 422, (params, r.text)
        assert c.get("/api/v1/reports/monthly", params={"month": "2026-13"}).status_code == 422
    with server.client() as anon:
        assert anon.get("/api/v1/reports", params=OCTOBER).status_code == 401


def test_report_cli_formats(server: Running, clock: FakeClock, db_url: str) -> None:
    script(server, clock)
    env = {"WARROOM_DATABASE_URL": db_url}

    def run(*args: str) -> str:
        return cli.ok("report", *args, env=env)

    data = json.loads(run("--month", "2026-10", "--format", "json"))
    assert data["rows"] == [P1, P3] and data["total"] == TOTAL
    table = run("--month", "2026-10")
    assert "MTTA" in table and "7m 30s" in table and "66.7%" in table
    rows = list(csv.DictReader(io.StringIO(run("--month", "2026-10", "--format", "csv", "--group-by", "service"))))
    assert [r["key"] for r in rows] == ["sis", "tou", "csp", "total"]
    assert run("--month", "2026-10", "--format", "markdown").startswith("# Incident report 2026-10")
    bad = cli.warroom("report", "--month", "2026-1x", env=env)
    assert bad.returncode == 2 and "month must look like" in bad.stderr


def test_rules_and_chart_pure() -> None:
    start = datetime(2026, 10, 1, tzinfo=UTC)
    facts = [
        rules.IncidentFacts(
            id=1,
            declared_at=start,
            priority="P2",
            severity="SEV-3",
            services=(),
            start=start - timedelta(minutes=1),
            acknowledged_at=start + timedelta(minutes=2),
        )
    ]
    rows, total = rules.summarize(facts, "service")
    assert rows[0].key == "none" and rows[0].mtta_seconds == 180.0
    with pytest.raises(ValueError):
        rules.summarize(facts, "team")
    svg = charts.bar_chart(title="A & <B>", labels=["<x>", "y"], values=[10.0, None], metric="alerts")
    root = ET.fromstring(svg)
    assert root.find("{http://www.w3.org/2000/svg}title").text == "A & <B>"  # type: ignore[union-attr]
    assert svg.count("<rect") == 1 and "&lt;x&gt;" in svg
