"""Record and read the audit log; callers pass their session so the entry commits with the change."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from warroom.audit.models import AuditEntry


def record(
    session: Session,
    *,
    now: datetime,
    actor: str,
    via: str,
    action: str,
    target: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    session.add(AuditEntry(at=now, actor=actor, via=via, action=action, target=target, details=details or {}))


def list_entries(
    session: Session, *, actor: str | None = None, since: datetime | None = None, page: int = 1, per_page: int = 100
) -> tuple[list[AuditEntry], int]:
    stmt = select(AuditEntry)
    if actor:
        stmt = stmt.where(AuditEntry.actor == actor)
    if since:
        stmt = stmt.where(AuditEntry.at >= since)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.scalars(stmt.order_by(AuditEntry.id.desc()).offset((page - 1) * per_page).limit(per_page)).all()
    return list(rows), total
