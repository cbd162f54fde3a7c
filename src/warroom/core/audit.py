"""Who changed what: one row per accepted change, written in the change's own transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, String, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from warroom.core.db import Base, JSONType, UTCDateTime


class AuditEntry(Base):
    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_at", "at"), Index("ix_audit_log_actor", "actor", "at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(80))
    via: Mapped[str] = mapped_column(String(16))  # the channel: api | web | cli | slack | system
    action: Mapped[str] = mapped_column(String(120))
    target: Mapped[str | None] = mapped_column(String(200))
    details: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)


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
