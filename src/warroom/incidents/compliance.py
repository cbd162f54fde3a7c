"""Cadence compliance: updates on time, late, missed, and the longest silence, for the incident and postmortem."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from warroom.incidents.models import Incident, StatusUpdate, TimelineEntry
from warroom.policy.durations import format_duration


def _longest(points: list[datetime]) -> timedelta:
    return max((b - a for a, b in zip(points, points[1:], strict=False)), default=timedelta(0))


def compute(session: Session, *, incident: Incident, now: datetime) -> dict[str, Any]:
    updates = session.scalars(
        select(StatusUpdate)
        .where(StatusUpdate.incident_id == incident.id)
        .order_by(StatusUpdate.created_at, StatusUpdate.id)
    ).all()
    human = [u for u in updates if not u.automatic]
    missed = (
        session.scalar(
            select(func.count())
            .select_from(TimelineEntry)
            .where(TimelineEntry.incident_id == incident.id, TimelineEntry.kind == "missed_update")
        )
        or 0
    )
    end = incident.resolved_at or now
    all_points = [incident.declared_at] + [u.created_at for u in updates if u.created_at <= end] + [end]
    human_points = [incident.declared_at] + [u.created_at for u in human if u.created_at <= end] + [end]
    gap, human_gap = _longest(all_points), _longest(human_points)
    return {
        "updates": len(updates),
        "human_updates": len(human),
        "automatic_updates": len(updates) - len(human),
        "on_time": sum(1 for u in human if u.on_time),
        "late": sum(1 for u in human if not u.on_time),
        "missed": missed,
        "missed_in_a_row": incident.missed_updates,
        "longest_gap_seconds": int(gap.total_seconds()),
        "longest_gap": format_duration(gap),
        "longest_human_gap_seconds": int(human_gap.total_seconds()),
        "longest_human_gap": format_duration(human_gap),
        "next_update_due_at": incident.next_update_due_at,
    }


def postmortem_section(session: Session, incident_id: int) -> str | None:
    """The postmortem's cadence section (a hook: `incidents.register`)."""
    incident = session.get(Incident, incident_id)
    if incident is None:
        return None
    c = compute(session, incident=incident, now=incident.resolved_at or incident.updated_at)
    return (
        "## Status update cadence\n\n"
        "| Updates | On time | Late | Missed (automatic update posted) | Longest gap "
        "| Longest gap between human updates |\n"
        f"|---|---|---|---|---|---|\n"
        f"| {c['updates']} ({c['automatic_updates']} automatic) | {c['on_time']} | {c['late']} | {c['missed']} "
        f"| {c['longest_gap']} | {c['longest_human_gap']} |\n"
    )
