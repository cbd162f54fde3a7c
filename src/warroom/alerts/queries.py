"""Reading alerts back: lists, one alert with a page of its events, an incident's alerts (ingest writes them)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from warroom.alerts.models import Alert, AlertEvent
from warroom.core.errors import NotFound


def firing_unlinked(session: Session, *, limit: int = 50) -> list[Alert]:
    """Firing alerts no incident has claimed yet, oldest first (the longest burning on top)."""
    return list(
        session.scalars(
            select(Alert)
            .where(Alert.status == "firing", Alert.incident_id.is_(None))
            .order_by(Alert.first_seen_at, Alert.id)
            .limit(limit)
        )
    )


@dataclass(frozen=True)
class IncidentAlerts:
    """A bounded view of an incident's alerts (a storm links tens of thousands) and their counts."""

    shown: list[Alert]
    total: int
    firing: int

    @property
    def more(self) -> int:
        return self.total - len(self.shown)


def for_incident(session: Session, *, incident_id: int, limit: int) -> IncidentAlerts:
    """At most `limit`: the firing ones first (longest firing first), then the most recent others."""
    # Two counts rather than one with a CASE on status: each is then read from an index alone.
    total = session.scalar(select(func.count()).where(Alert.incident_id == incident_id)) or 0
    firing = session.scalar(select(func.count()).where(Alert.status == "firing", Alert.incident_id == incident_id)) or 0
    shown = list(
        session.scalars(
            select(Alert)
            .where(Alert.incident_id == incident_id, Alert.status == "firing")
            .order_by(Alert.first_seen_at, Alert.id)
            .limit(limit)
        )
    )
    if len(shown) < limit and total > firing:
        shown += session.scalars(
            select(Alert)
            .where(Alert.incident_id == incident_id, Alert.status != "firing")
            .order_by(Alert.first_seen_at.desc(), Alert.id.desc())
            .limit(limit - len(shown))
        )
    return IncidentAlerts(shown=shown, total=total, firing=firing)


def list_alerts(
    session: Session,
    *,
    status: str | None = None,
    service: str | None = None,
    source: str | None = None,
    incident_id: int | None = None,
    unlinked: bool | None = None,
    page: int = 1,
    per_page: int = 50,
) -> tuple[list[Alert], int]:
    """Newest first; `unlinked=True` is "firing alerts not yet in an incident" with status=firing."""
    stmt = select(Alert)
    if status:
        stmt = stmt.where(Alert.status.in_(status.split(",")))
    if service:
        stmt = stmt.where(Alert.service == service)
    if source:
        stmt = stmt.where(Alert.source == source)
    if incident_id is not None:
        stmt = stmt.where(Alert.incident_id == incident_id)
    if unlinked is True:
        stmt = stmt.where(Alert.incident_id.is_(None))
    elif unlinked is False:
        stmt = stmt.where(Alert.incident_id.is_not(None))
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.scalars(
        stmt.order_by(Alert.first_seen_at.desc(), Alert.id.desc()).offset((page - 1) * per_page).limit(per_page)
    ).all()
    return list(rows), total


def get_alert(session: Session, alert_id: int) -> Alert:
    alert = session.get(Alert, alert_id)
    if alert is None:
        raise NotFound(f"no alert {alert_id}")
    return alert


@dataclass(frozen=True)
class EventPage:
    """The newest `limit` events older than a cursor, oldest first; `older` is the next cursor."""

    events: list[AlertEvent]
    total: int
    older: int | None


def events(session: Session, *, alert_id: int, limit: int = 50, before: int | None = None) -> EventPage:
    """A flapping alert keeps thousands of raw bodies: read one page of them, and count them all."""
    stmt = select(AlertEvent).where(AlertEvent.alert_id == alert_id)
    if before is not None:
        stmt = stmt.where(AlertEvent.id < before)
    rows = list(session.scalars(stmt.order_by(AlertEvent.id.desc()).limit(limit + 1)))
    total = session.scalar(select(func.count()).where(AlertEvent.alert_id == alert_id)) or 0
    older = rows[limit - 1].id if len(rows) > limit else None
    return EventPage(events=rows[:limit][::-1], total=total, older=older)
