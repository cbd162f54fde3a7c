"""ORM -> alert JSON shapes, shared by the API, the incident JSON and the web UI."""

from __future__ import annotations

import json
from typing import Any

from warroom.alerts.models import Alert, AlertEvent
from warroom.alerts.schemas import AlertDetail, AlertEventOut, AlertOut


def alert_out(a: Alert) -> AlertOut:
    return AlertOut(
        id=a.id,
        source=a.source,
        dedup_key=a.dedup_key,
        service=a.service,
        mapped=a.mapped,
        environment=a.environment,
        tier=a.tier,
        title=a.title,
        status=a.status,
        transition=a.transition,
        priority=a.priority,
        priority_rule=a.priority_rule,
        priority_reason=a.priority_reason,
        priority_hint=a.priority_hint,
        users_per_hour=a.users_hint,
        labels=dict(a.labels or {}),
        link=a.link,
        first_seen_at=a.first_seen_at,
        last_seen_at=a.last_seen_at,
        resolved_at=a.resolved_at,
        incident=f"INC-{a.incident_id}" if a.incident_id else None,
        event_count=a.event_count,
    )


def event_out(e: AlertEvent) -> AlertEventOut:
    try:
        raw: Any = json.loads(e.raw)
    except ValueError:
        raw = e.raw
    return AlertEventOut(
        id=e.id, status=e.status, transition=e.transition, received_at=e.received_at, occurred_at=e.occurred_at, raw=raw
    )


def alert_detail(a: Alert, events: list[AlertEvent], *, total: int, older: int | None) -> AlertDetail:
    return AlertDetail(
        **alert_out(a).model_dump(), events=[event_out(e) for e in events], events_total=total, events_next_before=older
    )


def alert_brief(a: Alert) -> dict[str, Any]:
    """The few fields the incident JSON lists per alert."""
    return {
        "id": a.id,
        "source": a.source,
        "service": a.service,
        "title": a.title,
        "status": a.status,
        "priority": a.priority,
        "priority_rule": a.priority_rule,
        "environment": a.environment,
        "tier": a.tier,
        "link": a.link,
        "first_seen_at": a.first_seen_at.isoformat().replace("+00:00", "Z"),
        "resolved_at": a.resolved_at.isoformat().replace("+00:00", "Z") if a.resolved_at else None,
    }
