"""/api/v1/notifications (the outbox, dead rows, retry) and the cadence views of an incident."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from warroom.api.deps import DB, ReadDB, Responder, State, Viewer
from warroom.incidents import service as incidents
from warroom.notifications import cadence as _cadence  # noqa: F401 - registers handlers and the postmortem section
from warroom.notifications import compliance, drafts
from warroom.notifications import service as outbox

router = APIRouter(tags=["notifications"])


class NotificationOut(BaseModel):
    id: int
    idempotency_key: str
    incident_id: int | None
    incident: str | None
    event: str
    channel: str
    state: str
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    external_id: str | None
    created_at: datetime
    sent_at: datetime | None
    text: str


class NotificationPage(BaseModel):
    items: list[NotificationOut]
    total: int


class DraftOut(BaseModel):
    incident: str
    since: datetime
    text: str
    changes: list[dict[str, Any]] = Field(
        description=(
            "What changed since the last update, in order: the newest timeline entries and the newest alerts that "
            "fired or recovered (a few of each; `changes_omitted` counts the rest)"
        )
    )
    firing: list[dict[str, Any]] = Field(description="The longest-firing alerts (a few; `firing_count` counts all)")
    last_human_update: dict[str, Any] | None
    next_update_due_at: datetime | None
    firing_count: int = Field(0, description="Alerts of the incident firing now")
    fired_count: int = Field(0, description="Alerts that fired since the last update")
    recovered_count: int = Field(0, description="Alerts that recovered since the last update")
    alerts_total: int = Field(0, description="Alerts of the incident, firing or not")
    changes_omitted: int = Field(
        0,
        description=(
            "Changes since the last update not listed in `changes` (counted in the text); all alerts: "
            "GET /api/v1/alerts?incident=INC-n, the whole timeline: GET /api/v1/incidents/{ref}/timeline"
        ),
    )


class CadenceOut(BaseModel):
    updates: int
    human_updates: int
    automatic_updates: int
    on_time: int
    late: int
    missed: int
    missed_in_a_row: int
    longest_gap_seconds: int
    longest_gap: str
    longest_human_gap_seconds: int
    longest_human_gap: str
    next_update_due_at: datetime | None


@router.get("/api/v1/notifications", response_model=NotificationPage)
def list_notifications(
    db: ReadDB,
    who: Viewer,
    state: Annotated[str | None, Query(pattern=r"^(pending|sent|dead)(,(pending|sent|dead))*$")] = None,
    incident: Annotated[str | None, Query(max_length=20)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> NotificationPage:
    incident_id = incidents.parse_ref(incident) if incident else None
    rows, total = outbox.list_notifications(db, state=state, incident_id=incident_id, limit=limit, offset=offset)
    return NotificationPage(items=[NotificationOut(**outbox.out(r)) for r in rows], total=total)


@router.post("/api/v1/notifications/{notification_id}/retry", response_model=NotificationOut)
def retry(notification_id: int, state: State, db: DB, who: Responder) -> NotificationOut:
    row = outbox.retry(db, notification_id=notification_id, now=state.now())
    return NotificationOut(**outbox.out(row))


@router.get("/api/v1/incidents/{ref}/updates/draft", response_model=DraftOut)
def draft(ref: str, state: State, db: ReadDB, who: Viewer) -> DraftOut:
    incident = incidents.get(db, ref)
    return DraftOut(**drafts.build(db, incident=incident, now=state.now()))


@router.get("/api/v1/incidents/{ref}/cadence", response_model=CadenceOut)
def cadence(ref: str, state: State, db: ReadDB, who: Viewer) -> CadenceOut:
    incident = incidents.get(db, ref)
    return CadenceOut(**compliance.compute(db, incident=incident, now=state.now()))
