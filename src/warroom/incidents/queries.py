"""Read-only incident queries for dashboards and the incident room (bounded: a storm is large)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from warroom.incidents import states
from warroom.incidents.models import Incident, TimelineEntry


def open_incidents(session: Session, *, limit: int = 200) -> list[Incident]:
    """Open incidents, most urgent first (P1 before P2), then the oldest."""
    return list(session.scalars(
        select(Incident).where(Incident.state.in_(states.OPEN_STATES))
        .order_by(Incident.priority, Incident.declared_at, Incident.id).limit(limit)))


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
            select(func.count(case((TimelineEntry.kind == "alert", 1))), func.count())
            .where(TimelineEntry.incident_id == incident_id)).one()
        all_people = total - all_alerts
    entries = sorted(people + machine, key=lambda e: (e.occurred_at, e.id))
    return RoomTimeline(entries=entries, alert_entries=all_alerts, alerts_omitted=all_alerts - len(machine),
                        others_omitted=all_people - len(people))
