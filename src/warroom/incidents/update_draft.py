"""A starting text for the next status update: the last update plus what happened since."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from warroom.incidents.models import Incident, StatusUpdate, TimelineEntry

_SKIP = {"status_update", "auto_update", "postmortem"}


def draft_update(session: Session, *, incident: Incident) -> str:
    """Prefill only; the human edits it before posting."""
    last = session.scalar(select(StatusUpdate).where(StatusUpdate.incident_id == incident.id)
                          .order_by(StatusUpdate.created_at.desc(), StatusUpdate.id.desc()).limit(1))
    stmt = select(TimelineEntry).where(TimelineEntry.incident_id == incident.id)
    if last is not None:
        stmt = stmt.where(TimelineEntry.recorded_at > last.created_at)
    entries = [e for e in session.scalars(stmt.order_by(TimelineEntry.occurred_at, TimelineEntry.id))
               if e.kind not in _SKIP]
    lines = [f"{incident.ref} is {incident.state} ({incident.priority}, {incident.severity}), "
             f"commander {incident.commander}."]
    if last is not None:
        lines.append(f"Previously: {last.message.strip()}")
    if entries:
        lines.append("Since then:" if last is not None else "So far:")
        lines += [f"- {e.occurred_at:%H:%M} UTC {e.text}" for e in entries]
    lines.append("Next steps: ")
    return "\n".join(lines)
