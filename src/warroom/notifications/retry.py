"""Dead notifications: list them and put one back in the queue by hand."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from warroom.errors import Conflict, NotFound
from warroom.notifications.models import Notification


def dead(session: Session, *, page: int = 1, per_page: int = 50) -> tuple[list[Notification], int]:
    stmt = select(Notification).where(Notification.state == "dead")
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.scalars(stmt.order_by(Notification.id.desc()).offset((page - 1) * per_page).limit(per_page))
    return list(rows), total


def retry(session: Session, *, now: datetime, notification_id: int) -> Notification:
    """Dead -> pending, due now, attempts reset; the last error stays for the record."""
    row = session.scalar(select(Notification).where(Notification.id == notification_id).with_for_update())
    if row is None:
        raise NotFound(f"no notification {notification_id}")
    if row.state != "dead":
        raise Conflict(f"notification {notification_id} is {row.state}, not dead")
    row.state = "pending"
    row.next_attempt_at = now
    row.attempts = 0
    row.lease_until = None
    row.claimed_by = None
    return row
