"""ORM -> alert JSON shapes (the schemas read the rows), for the API, the incident JSON and the web UI."""

from __future__ import annotations

from typing import Any

from warroom.alerts.models import Alert, AlertEvent
from warroom.alerts.schemas import AlertBrief, AlertDetail, AlertEventOut, AlertOut


def alert_out(a: Alert) -> AlertOut:
    return AlertOut.model_validate(a)


def event_out(e: AlertEvent) -> AlertEventOut:
    return AlertEventOut.model_validate(e)


def alert_detail(a: Alert, events: list[AlertEvent], *, total: int, older: int | None) -> AlertDetail:
    return AlertDetail(
        **alert_out(a).model_dump(), events=[event_out(e) for e in events], events_total=total, events_next_before=older
    )


def alert_brief(a: Alert) -> dict[str, Any]:
    """The few fields the incident JSON lists per alert (times as ISO text)."""
    return AlertBrief.model_validate(a).model_dump(mode="json")
