"""Small read functions over alerts for the web UI (ingestion itself lives elsewhere)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from warroom.ingest.models import Alert


def firing_unlinked(session: Session, *, limit: int = 50) -> list[Alert]:
    """Firing alerts no incident has claimed yet, oldest first (the longest burning on top)."""
    return list(session.scalars(
        select(Alert).where(Alert.status == "firing", Alert.incident_id.is_(None))
        .order_by(Alert.first_seen_at, Alert.id).limit(limit)))


def for_incident(session: Session, *, incident_id: int) -> list[Alert]:
    return list(session.scalars(
        select(Alert).where(Alert.incident_id == incident_id).order_by(Alert.first_seen_at, Alert.id)))


def list_alerts(session: Session, *, status: str | None = None, page: int = 1,
                per_page: int = 50) -> tuple[list[Alert], int]:
    """Newest first."""
    stmt = select(Alert)
    if status:
        stmt = stmt.where(Alert.status == status)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.scalars(stmt.order_by(Alert.id.desc()).offset((page - 1) * per_page).limit(per_page))
    return list(rows), total
