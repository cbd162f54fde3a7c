"""Insert alert rows directly (test setup for code that reads alerts, not a stand-in for ingest)."""

from __future__ import annotations

import itertools
from datetime import datetime
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session, sessionmaker

from warroom.alerts.models import Alert

_seq = itertools.count(1)


def add_alert(
    sessions: sessionmaker[Session],
    *,
    service: str,
    at: datetime,
    tier: int = 1,
    status: str = "firing",
    incident_id: int | None = None,
    environment: str = "production",
    source: str = "datadog",
) -> int:
    n = next(_seq)
    with sessions.begin() as s:
        alert = Alert(
            source=source,
            dedup_key=f"k{n}",
            open_key=f"k{n}" if status == "firing" else None,
            service=service,
            mapped=True,
            environment=environment,
            tier=tier,
            title=f"{service} alert {n}",
            status=status,
            priority="P2",
            priority_rule="test",
            priority_reason="test",
            labels={},
            first_seen_at=at,
            last_seen_at=at,
            resolved_at=at if status == "resolved" else None,
            incident_id=incident_id,
            event_count=1,
        )
        s.add(alert)
        s.flush()
        return alert.id


def add_alerts(
    sessions: sessionmaker[Session],
    rows: list[dict[str, Any]],
    *,
    service: str,
    incident_id: int | None,
    title: str = "",
) -> list[int]:
    """Many alert rows in one INSERT (an alert storm): each row gives at least `at`, and may give
    `status`, `resolved_at`, `labels`, `tier`, `title`."""
    values = []
    for row in rows:
        n = next(_seq)
        status = row.get("status", "firing")
        values.append(
            dict(
                source="grafana",
                dedup_key=f"k{n}",
                open_key=f"k{n}" if status == "firing" else None,
                service=service,
                mapped=True,
                environment="production" if row.get("tier", 1) == 1 else "staging",
                tier=row.get("tier", 1),
                title=row.get("title", f"{service} alert {n}{title}"),
                status=status,
                priority="P2",
                priority_rule="test",
                priority_reason="test",
                labels=row.get("labels", {}),
                first_seen_at=row["at"],
                last_seen_at=row["at"],
                resolved_at=row.get("resolved_at"),
                incident_id=incident_id,
                event_count=1,
            )
        )
    with sessions.begin() as s:
        return list(s.scalars(insert(Alert).returning(Alert.id, sort_by_parameter_order=True), values))
