"""Write outbox rows in the caller's transaction; delivery is the worker's job."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from warroom.notifications.models import Notification
from warroom.policy.schema import Policy


def enqueue(
    session: Session,
    *,
    policy: Policy,
    now: datetime,
    event: str,
    text: str,
    incident_id: int | None = None,
    payload: dict[str, Any] | None = None,
    channels: list[str] | None = None,
) -> list[Notification]:
    """One pending row per channel routed for `event`; nothing leaves before commit."""
    rows = []
    for channel in channels if channels is not None else policy.channels_for(event):
        row = Notification(
            idempotency_key=uuid.uuid4().hex,
            incident_id=incident_id,
            event=event,
            channel=channel,
            text=text,
            payload=payload or {},
            state="pending",
            attempts=0,
            next_attempt_at=now,
            created_at=now,
        )
        session.add(row)
        rows.append(row)
    return rows
