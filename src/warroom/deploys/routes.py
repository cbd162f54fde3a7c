"""/api/v1/incidents/{ref}/oob-requests: out-of-band deploy requests and their checklist."""

from __future__ import annotations

from fastapi import APIRouter

from warroom.api.deps import DB, ReadDB, Responder, State, Viewer
from warroom.deploys import service as oob
from warroom.deploys.schemas import ChecklistIn, OobForm, OobOut, OobTransitionIn, PostmortemDoneIn
from warroom.incidents import service as incidents

router = APIRouter(prefix="/api/v1/incidents/{ref}/oob-requests", tags=["oob deploys"])


@router.post("", status_code=201, response_model=OobOut)
def create(ref: str, body: OobForm, state: State, db: DB, who: Responder) -> OobOut:
    """Open a draft; move it to `requested` once the form is complete."""
    incident = incidents.get(db, ref, for_update=True)
    row = oob.create(db, policy=state.policy, now=state.now(), actor=who.handle, incident=incident, form=body)
    return oob.view(row)


@router.get("", response_model=list[OobOut])
def list_requests(ref: str, db: ReadDB, who: Viewer) -> list[OobOut]:
    incident = incidents.get(db, ref)
    return [oob.view(r) for r in oob.list_for_incident(db, incident_id=incident.id)]


@router.get("/{oob_id}", response_model=OobOut)
def show(ref: str, oob_id: str, db: ReadDB, who: Viewer) -> OobOut:
    incident = incidents.get(db, ref)
    return oob.view(oob.get(db, incident=incident, ref=oob_id))


@router.patch("/{oob_id}", response_model=OobOut)
def edit(ref: str, oob_id: str, body: OobForm, state: State, db: DB, who: Responder) -> OobOut:
    incident = incidents.get(db, ref, for_update=True)
    row = oob.get(db, incident=incident, ref=oob_id, for_update=True)
    oob.edit(db, now=state.now(), actor=who.handle, incident=incident, row=row, form=body)
    return oob.view(row)


@router.post("/{oob_id}/transitions", response_model=OobOut)
def move(ref: str, oob_id: str, body: OobTransitionIn, state: State, db: DB, who: Responder) -> OobOut:
    """draft -> requested -> approved -> deployed -> verified, or rejected / cancelled."""
    incident = incidents.get(db, ref, for_update=True)
    row = oob.get(db, incident=incident, ref=oob_id, for_update=True)
    oob.transition(
        db,
        policy=state.policy,
        now=state.now(),
        actor=who.handle,
        incident=incident,
        row=row,
        to=body.to,
        reason=body.reason,
    )
    return oob.view(row)


@router.post("/{oob_id}/checklist", response_model=OobOut)
def checklist(ref: str, oob_id: str, body: ChecklistIn, state: State, db: DB, who: Responder) -> OobOut:
    incident = incidents.get(db, ref, for_update=True)
    row = oob.get(db, incident=incident, ref=oob_id, for_update=True)
    oob.tick(
        db,
        policy=state.policy,
        now=state.now(),
        actor=who.handle,
        incident=incident,
        row=row,
        item=body.item,
        done=body.done,
        note=body.note,
    )
    return oob.view(row)


@router.post("/{oob_id}/postmortem", response_model=OobOut)
def postmortem_done(ref: str, oob_id: str, body: PostmortemDoneIn, state: State, db: DB, who: Responder) -> OobOut:
    """Mark the OOB postmortem written; the two-business-day reminder is withdrawn."""
    incident = incidents.get(db, ref, for_update=True)
    row = oob.get(db, incident=incident, ref=oob_id, for_update=True)
    oob.postmortem_done(
        db, now=state.now(), actor=who.handle, incident=incident, row=row, url=str(body.url) if body.url else None
    )
    return oob.view(row)
