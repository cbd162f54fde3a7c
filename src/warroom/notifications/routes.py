"""/api/v1/notifications (the outbox, dead rows, retry) and the cadence views of an incident."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from warroom.api.deps import DB, ReadDB, Responder, State, Viewer
from warroom.core.refs import number as incident_number
from warroom.notifications import service as outbox
from warroom.notifications.schemas import NotificationOut

router = APIRouter(tags=["notifications"])


class NotificationPage(BaseModel):
    items: list[NotificationOut]
    total: int


STATE_FILTER = r"^(pending|sent|dead|obsolete)(,(pending|sent|dead|obsolete))*$"


@router.get("/api/v1/notifications", response_model=NotificationPage)
def list_notifications(
    db: ReadDB,
    who: Viewer,
    state: Annotated[str | None, Query(pattern=STATE_FILTER)] = None,
    incident: Annotated[str | None, Query(max_length=20)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> NotificationPage:
    incident_id = incident_number(incident) if incident else None
    rows, total = outbox.list_notifications(db, state=state, incident_id=incident_id, limit=limit, offset=offset)
    return NotificationPage(items=[NotificationOut.model_validate(r) for r in rows], total=total)


@router.post("/api/v1/notifications/{notification_id}/retry", response_model=NotificationOut)
def retry(notification_id: int, state: State, db: DB, who: Responder) -> NotificationOut:
    row = outbox.retry(db, notification_id=notification_id, now=state.now())
    return NotificationOut.model_validate(row)
