"""Read-only incident queries: lists, the timeline and updates, dashboards, the incident room."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from warroom.incidents import states
from warroom.incidents.models import Incident, IncidentService, StatusUpdate, TimelineEntry


def list_incidents(
    session: Session,
    *,
    state: str | None = None,
    priority: str | None = None,
    service: str | None = None,
    declared_from: datetime | None = None,
    declared_to: datetime | None = None,
    page: int = 1,
    per_page: int = 50,
) -> tuple[list[Incident], int]:
    """Newest first; filters use indexed columns so 100,000 incidents stay fast."""
    stmt = select(Incident)
    if state:
        stmt = stmt.where(Incident.state.in_(state.split(",")))
    if priority:
        stmt = stmt.where(Incident.priority.in_(priority.split(",")))
    if service:
        stmt = stmt.where(
            Incident.id.in_(select(IncidentService.incident_id).where(IncidentService.service == service))
        )
    if declared_from:
        stmt = stmt.where(Incident.declared_at >= declared_from)
    if declared_to:
        stmt = stmt.where(Incident.declared_at < declared_to)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.scalars(stmt.order_by(Incident.id.desc()).offset((page - 1) * per_page).limit(per_page)).all()
    return list(rows), total


def timeline(session: Session, *, incident_id: int) -> list[TimelineEntry]:
    """True order: by when it happened, then by when we recorded it."""
    return list(
        session.scalars(
            select(TimelineEntry)
            .where(TimelineEntry.incident_id == incident_id)
            .order_by(TimelineEntry.occurred_at, TimelineEntry.id)
        )
    )


def timeline_page(
    session: Session, *, incident_id: int, page: int = 1, per_page: int = 100
) -> tuple[list[TimelineEntry], int]:
    """One page of the timeline in true order, and how many entries it has in all."""
    where = TimelineEntry.incident_id == incident_id
    total = session.scalar(select(func.count()).select_from(TimelineEntry).where(where)) or 0
    rows = session.scalars(
        select(TimelineEntry)
        .where(where)
        .order_by(TimelineEntry.occurred_at, TimelineEntry.id)
        .offset((page - 1) * per_page)
        .limit(per_page)
    )
    return list(rows), total


def updates(session: Session, *, incident_id: int) -> list[StatusUpdate]:
    return list(
        session.scalars(
            select(StatusUpdate)
            .where(StatusUpdate.incident_id == incident_id)
            .order_by(StatusUpdate.created_at, StatusUpdate.id)
        )
    )


def open_incidents(session: Session, *, limit: int = 200) -> list[Incident]:
    """Open incidents, most urgent first (P1 before P2), then the oldest."""
    return list(
        session.scalars(
            select(Incident)
            .where(Incident.state.in_(states.OPEN_STATES))
            .order_by(Incident.priority, Incident.declared_at, Incident.id)
            .limit(limit)
        )
    )


@dataclass(frozen=True)
class RoomTimeline:
    """What the incident room shows of the timeline, and how many alert entries it leaves out."""

    entries: list[TimelineEntry]  # true order
    alert_entries: int  # alert entries in all (an alert storm adds one per joining alert)
    alerts_omitted: int
    others_omitted: int


def room_timeline(session: Session, *, incident_id: int, alerts: int = 50, others: int = 500) -> RoomTimeline:
    """The newest `others` entries that are not alert bookkeeping, and the newest `alerts` alert entries."""
    base = select(TimelineEntry).where(TimelineEntry.incident_id == incident_id)
    newest = (TimelineEntry.occurred_at.desc(), TimelineEntry.id.desc())
    people = list(session.scalars(base.where(TimelineEntry.kind != "alert").order_by(*newest).limit(others)))
    machine = list(session.scalars(base.where(TimelineEntry.kind == "alert").order_by(*newest).limit(alerts)))
    all_people, all_alerts = len(people), len(machine)
    if all_people == others or all_alerts == alerts:  # maybe more: count them (only then)
        all_alerts, total = session.execute(
            select(func.count(case((TimelineEntry.kind == "alert", 1))), func.count()).where(
                TimelineEntry.incident_id == incident_id
            )
        ).one()
        all_people = total - all_alerts
    entries = sorted(people + machine, key=lambda e: (e.occurred_at, e.id))
    return RoomTimeline(
        entries=entries,
        alert_entries=all_alerts,
        alerts_omitted=all_alerts - len(machine),
        others_omitted=all_people - len(people),
    )
