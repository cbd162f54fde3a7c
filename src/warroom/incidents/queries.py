"""Read-only incident queries for dashboards."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from warroom.incidents import states
from warroom.incidents.models import Incident


def open_incidents(session: Session, *, limit: int = 200) -> list[Incident]:
    """Open incidents, most urgent first (P1 before P2), then the oldest."""
    return list(session.scalars(
        select(Incident).where(Incident.state.in_(states.OPEN_STATES))
        .order_by(Incident.priority, Incident.declared_at, Incident.id).limit(limit)))
