"""Small read functions over alerts for the incident views and the web UI (ingestion lives elsewhere)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from warroom.ingest.models import Alert


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
    session: Session, *, status: str | None = None, incident_id: int | None = None, page: int = 1, per_page: int = 50
) -> tuple[list[Alert], int]:
    """Newest first."""
    stmt = select(Alert)
    if status:
        stmt = stmt.where(Alert.status == status)
    if incident_id is not None:
        stmt = stmt.where(Alert.incident_id == incident_id)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.scalars(stmt.order_by(Alert.id.desc()).offset((page - 1) * per_page).limit(per_page))
    return list(rows), total
