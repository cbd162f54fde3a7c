"""Fill a migrated database with a year of history: incidents, alerts and 1,000,000 alert events.

Rows are built from the model tables' own columns (so a schema change breaks this loudly) and
written in batches: PostgreSQL with COPY, SQLite with SQLAlchemy Core executemany. One incident is
an alert storm (`storm` alerts grouped into one open incident)."""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from warroom.alerts.models import Alert, AlertEvent
from warroom.incidents.models import Incident, IncidentService

SERVICES = ["usip", "ssoe", "sis", "tou", "csp", "mpi"]
SOURCES = ["datadog", "datadog", "alertmanager", "alertmanager", "grafana", "events"]
EVENTS_PER_ALERT = 4
BATCH = 20_000


def _check(table: sa.Table, row: dict[str, Any]) -> None:
    cols = {c.name for c in table.columns}
    if set(row) != cols:
        raise SystemExit(
            f"{table.name}: seed columns differ from the model: missing {cols - set(row)}, extra {set(row) - cols}"
        )


def _write(conn: sa.Connection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    if conn.dialect.name != "postgresql":
        conn.execute(sa.insert(table), rows)
        return
    cols = [c.name for c in table.columns]
    json_cols = {c.name for c in table.columns if isinstance(c.type, sa.JSON) or "JSON" in str(c.type)}
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    with cursor.copy(f'COPY "{table.name}" ({", ".join(cols)}) FROM STDIN') as copy:
        for r in rows:
            copy.write_row([json.dumps(r[c]) if c in json_cols else r[c] for c in cols])


def incidents(rng: random.Random, year_start: datetime, n: int) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """n closed incidents over the year, then one open alert-storm incident (id n + 1)."""
    for i in range(1, n + 2):
        storm = i == n + 1
        declared = (
            year_start + timedelta(seconds=rng.uniform(0, 360 * 86400))
            if not storm
            else datetime.now(UTC) - timedelta(hours=1)
        )
        ack = declared + timedelta(minutes=rng.uniform(1, 30))
        row = dict(
            id=i,
            title=f"{SERVICES[i % 6]} is experiencing degraded service",
            state="active" if storm else "completed",
            priority=rng.choice(["P1", "P2", "P3", "P3", "P4"]),
            severity=f"SEV-{rng.randint(1, 4)}",
            commander="alice",
            declared_by="warroom" if i % 3 else "alice",
            roles={"scribe": "bob"},
            monitors=[f"https://app.datadoghq.com/monitors/{i}"],
            teams=["identity"],
            controller=None,
            acknowledged_by_team=True,
            tracking_issue=None,
            sub_services=None,
            users_impacted=None if storm else rng.randint(10, 50_000),
            impacts=None if storm else "Sign-ins failed for some users.",
            detection_method=None if storm else "alert",
            pending_tasks=[],
            declared_automatically=bool(i % 3),
            tier=1,  # production incidents: production alerts join them
            first_alert_at=declared - timedelta(minutes=2),
            declared_at=declared,
            acknowledged_at=ack,
            stable_at=None if storm else ack + timedelta(minutes=rng.uniform(5, 120)),
            resolved_at=None if storm else ack + timedelta(minutes=rng.uniform(120, 600)),
            completed_at=None if storm else ack + timedelta(days=2),
            last_update_at=datetime.now(UTC) - timedelta(minutes=5) if storm else ack,
            next_update_due_at=datetime.now(UTC) + timedelta(minutes=25) if storm else None,
            missed_updates=0,
            updated_at=declared + timedelta(days=2) if not storm else datetime.now(UTC),
        )
        yield row, dict(incident_id=i, service=SERVICES[i % 6], position=0)


def _raw(source: str, key: str, service: str, env: str, status: str, at: datetime) -> str:
    if source == "datadog":
        body: dict[str, Any] = {
            "alert_id": key,
            "cycle_key": "1",
            "transition": "Recovered" if status == "resolved" else "Triggered",
            "alert_type": "success" if status == "resolved" else "error",
            "priority": "P3",
            "title": f"[Triggered on {{env:{env},service:{service}}}] {service} error rate high",
            "tags": f"env:{env},service:{service},team:identity,monitor",
            "scope": f"env:{env},service:{service}",
            "link": f"https://app.datadoghq.com/monitors/{key}",
            "date": str(int(at.timestamp() * 1000)),
            "id": key,
            "org": {"id": "123456", "name": "Identity Team"},
        }
    else:
        body = {
            "status": "firing" if status == "firing" else "resolved",
            "fingerprint": key,
            "labels": {
                "alertname": "HighLatency",
                "service": service,
                "env": env,
                "instance": f"{service}-{key[-3:]}.internal:9100",
                "severity": "page",
            },
            "annotations": {"summary": f"{service} p99 latency high", "runbook_url": "https://runbooks/latency"},
            "startsAt": at.isoformat(),
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus:9090/graph?g0.expr=histogram_quantile",
        }
    return json.dumps(body)


def seed(
    engine: sa.Engine,
    *,
    events: int,
    n_incidents: int,
    storm: int,
    flap: int = 0,
    seed_: int = 7,
    progress: Any = print,
) -> dict[str, int]:
    """Insert everything (alert 1 flaps: `flap` of the events are its re-deliveries); returns row counts."""
    rng = random.Random(seed_)
    now = datetime.now(UTC)
    year_start = now - timedelta(days=365)
    A: sa.Table = Alert.__table__  # type: ignore[assignment]  # noqa: N806
    E: sa.Table = AlertEvent.__table__  # type: ignore[assignment]  # noqa: N806
    n_alerts = (events - flap) // EVENTS_PER_ALERT
    inc_rows = list(incidents(rng, year_start, n_incidents))
    storm_id = n_incidents + 1
    with engine.begin() as conn:
        _check(Incident.__table__, inc_rows[0][0])  # type: ignore[arg-type]
        _check(IncidentService.__table__, inc_rows[0][1])  # type: ignore[arg-type]
        for n in range(0, len(inc_rows), BATCH):
            _write(conn, Incident.__table__, [r for r, _ in inc_rows[n : n + BATCH]])  # type: ignore[arg-type]
            _write(conn, IncidentService.__table__, [s for _, s in inc_rows[n : n + BATCH]])  # type: ignore[arg-type]
    declared = {r["id"]: r["declared_at"] for r, _ in inc_rows}
    event_id = 0
    for start in range(0, n_alerts, BATCH // EVENTS_PER_ALERT):
        alerts, evs = [], []
        for alert_id in range(start + 1, min(start + BATCH // EVENTS_PER_ALERT, n_alerts) + 1):
            in_storm = alert_id > n_alerts - storm
            firing = in_storm or alert_id % 500 == 0
            incident_id = storm_id if in_storm else (rng.randint(1, n_incidents) if rng.random() < 0.5 else None)
            first = (
                declared[incident_id] - timedelta(minutes=rng.uniform(0, 5))
                if incident_id
                else year_start + timedelta(seconds=rng.uniform(0, 364 * 86400))
            )
            last = first + timedelta(minutes=rng.uniform(5, 90))
            source, service = rng.choice(SOURCES), SERVICES[alert_id % 6]
            env = rng.choice(["prod", "eks-prod", "staging", "dev"])
            key = f"{source[:2]}-{alert_id:08d}"
            status = "firing" if firing else "resolved"
            labels = {
                "env": env,
                "service": service,
                "team": "identity",
                "alertname": "HighLatency",
                "instance": f"{service}-{alert_id % 97}.internal:9100",
                "monitor": str(alert_id),
            }
            alerts.append(
                dict(
                    id=alert_id,
                    source=source,
                    dedup_key=key,
                    open_key=key if firing else None,
                    service=service,
                    mapped=True,
                    environment=env,
                    tier=1 if "prod" in env else (2 if env == "staging" else 3),
                    title=f"{service} p99 latency high ({key})",
                    status=status,
                    transition="Triggered" if firing else "Recovered",
                    priority=rng.choice(["P2", "P3", "P3"]),
                    priority_rule="matrix",
                    priority_reason="tier 1, users unknown: P3 (15-minute rule applies)",
                    priority_hint=None,
                    users_hint=None,
                    labels=labels,
                    link=f"https://app.datadoghq.com/monitors/{alert_id}",
                    first_seen_at=first,
                    last_seen_at=last,
                    resolved_at=None if firing else last,
                    started_at=first,
                    episode_key=key,
                    incident_id=incident_id,
                    event_count=EVENTS_PER_ALERT,
                )
            )
            for j in range(EVENTS_PER_ALERT):
                event_id += 1
                st = "resolved" if j == EVENTS_PER_ALERT - 1 and not firing else "firing"
                at = first + (last - first) * j / (EVENTS_PER_ALERT - 1)
                evs.append(
                    dict(
                        id=event_id,
                        alert_id=alert_id,
                        event_key=hashlib.sha256(f"{alert_id}:{j}".encode()).hexdigest(),
                        source=source,
                        status=st,
                        transition="Recovered" if st == "resolved" else "Triggered",
                        received_at=at,
                        occurred_at=at,
                        raw=_raw(source, key, service, env, st, at),
                    )
                )
        if start == 0:
            _check(A, alerts[0])
            _check(E, evs[0])
        with engine.begin() as conn:
            _write(conn, A, alerts)
            _write(conn, E, evs)
        if (start // (BATCH // EVENTS_PER_ALERT)) % 10 == 0:
            progress(f"  {event_id:,} events")
    with engine.begin() as conn:
        a1 = conn.execute(sa.select(A).where(A.c.id == 1)).mappings().one()
        for n in range(0, flap, BATCH):
            evs = []
            for j in range(n, min(n + BATCH, flap)):
                event_id += 1
                at = a1["first_seen_at"] + timedelta(minutes=j)
                st = "resolved" if j % 2 else "firing"
                evs.append(
                    dict(
                        id=event_id,
                        alert_id=1,
                        event_key=hashlib.sha256(f"1:flap:{j}".encode()).hexdigest(),
                        source=a1["source"],
                        status=st,
                        transition="Recovered" if st == "resolved" else "Triggered",
                        received_at=at,
                        occurred_at=at,
                        raw=_raw(a1["source"], a1["dedup_key"], a1["service"], a1["environment"], st, at),
                    )
                )
            _write(conn, E, evs)
        conn.execute(sa.update(A).where(A.c.id == 1).values(event_count=EVENTS_PER_ALERT + flap))
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            for table, n in (("incidents", len(inc_rows)), ("alerts", n_alerts), ("alert_events", event_id)):
                conn.execute(sa.text(f"SELECT setval('{table}_id_seq', :n)"), {"n": n})
            conn.execute(sa.text("VACUUM ANALYZE"))
    else:
        with engine.begin() as conn:
            conn.execute(sa.text("ANALYZE"))
    return {
        "incidents": len(inc_rows),
        "alerts": n_alerts,
        "alert_events": event_id,
        "storm_incident": storm_id,
        "flap_alert_events": EVENTS_PER_ALERT + flap,
    }
