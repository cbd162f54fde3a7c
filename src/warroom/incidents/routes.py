"""/api/v1/incidents: the contract other tools use."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Header, Query
from fastapi.responses import PlainTextResponse, Response
from pydantic import BaseModel, Field

from warroom.api.deps import DB, ReadDB, Responder, State, Viewer
from warroom.core.bounds import UtcDateTime
from warroom.core.errors import NotFound
from warroom.incidents import command, compliance, drafts, editing, escalation, linking, postmortems, updates, versions
from warroom.incidents import queries as incident_queries
from warroom.incidents import service as incidents
from warroom.incidents.schemas import (
    AttachIn,
    CadenceOut,
    DraftOut,
    HandOverIn,
    IncidentCreate,
    IncidentOut,
    IncidentPage,
    IncidentPatch,
    NoteIn,
    PageOut,
    TimelineOut,
    TimelinePage,
    TransitionIn,
    UpdateIn,
    UpdateOut,
)
from warroom.incidents.views import incident_full, incident_out, timeline_out, update_out

router = APIRouter(prefix="/api/v1/incidents", tags=["incidents"])
STATE_FILTER = r"^(active|stable|resolved|completed)(,(active|stable|resolved|completed))*$"


class PostmortemOut(BaseModel):
    incident: str
    version: int
    source: str
    author: str
    created_at: datetime
    markdown: str


class PostmortemIn(BaseModel):
    markdown: str = Field(min_length=1, max_length=500_000)
    base_version: int | None = None


class PostmortemVersionOut(BaseModel):
    version: int
    source: str
    author: str
    created_at: datetime


@router.post("", status_code=201, response_model=IncidentOut)
def declare(body: IncidentCreate, state: State, db: DB, who: Responder) -> IncidentOut:
    incident = incidents.declare(db, policy=state.policy, now=state.now(), actor=who.handle, data=body)
    return incident_out(incident)


@router.get("", response_model=IncidentPage)
def list_incidents(
    db: ReadDB,
    who: Viewer,
    state: Annotated[str | None, Query(pattern=STATE_FILTER)] = None,
    priority: Annotated[str | None, Query(pattern=r"^P[1-4](,P[1-4])*$")] = None,
    service: Annotated[str | None, Query(max_length=64)] = None,
    declared_from: UtcDateTime | None = None,
    declared_to: UtcDateTime | None = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    per_page: Annotated[int, Query(ge=1, le=500)] = 50,
) -> IncidentPage:
    rows, total = incident_queries.list_incidents(
        db,
        state=state,
        priority=priority,
        service=service,
        declared_from=declared_from,
        declared_to=declared_to,
        page=page,
        per_page=per_page,
    )
    return IncidentPage(items=[incident_out(i) for i in rows], total=total, page=page, per_page=per_page)


@router.get("/{ref}", response_model=IncidentOut)
def show(ref: str, state: State, db: ReadDB, who: Viewer, response: Response) -> IncidentOut:
    out = incident_full(db, policy=state.policy, incident=incidents.get(db, ref))
    response.headers["ETag"] = f'"{out.version}"'
    return out


@router.patch("/{ref}", response_model=IncidentOut, responses={409: {"description": "stale If-Match: see details"}})
def edit(
    ref: str,
    body: IncidentPatch,
    state: State,
    db: DB,
    who: Responder,
    response: Response,
    if_match: Annotated[str | None, Header(max_length=200, description="The `version` (ETag) you edited")] = None,
) -> IncidentOut:
    """Changes only the fields sent; with `If-Match`, an edit of an older version is refused with what changed."""
    incident = incidents.get(db, ref, for_update=True)
    versions.check(incident, if_match)
    editing.patch(db, policy=state.policy, now=state.now(), actor=who.handle, incident=incident, data=body)
    out = incident_full(db, policy=state.policy, incident=incident)
    response.headers["ETag"] = f'"{out.version}"'
    return out


@router.post("/{ref}/transitions", response_model=IncidentOut)
def transition(ref: str, body: TransitionIn, state: State, db: DB, who: Responder) -> IncidentOut:
    incident = incidents.get(db, ref, for_update=True)
    incidents.transition(
        db,
        policy=state.policy,
        now=state.now(),
        actor=who.handle,
        incident=incident,
        to=body.to,
        reason=body.reason,
        hooks=state.hooks,
    )
    return incident_full(db, policy=state.policy, incident=incident)


@router.post("/{ref}/commander", response_model=IncidentOut)
def hand_over(ref: str, body: HandOverIn, state: State, db: DB, who: Responder) -> IncidentOut:
    """Hand over command to another active user who may command: on the timeline, notified."""
    incident = incidents.get(db, ref, for_update=True)
    command.hand_over(
        db, policy=state.policy, now=state.now(), actor=who.handle, incident=incident, to=body.to, reason=body.reason
    )
    return incident_full(db, policy=state.policy, incident=incident)


@router.post("/{ref}/alerts", response_model=IncidentOut)
def attach_alerts(ref: str, body: AttachIn, state: State, db: DB, who: Responder) -> IncidentOut:
    """Attach alerts; one in another incident is moved here (both timelines say so)."""
    incident = incidents.get(db, ref, for_update=True)
    linking.attach(db, now=state.now(), actor=who.handle, incident=incident, alert_ids=body.alert_ids)
    return incident_full(db, policy=state.policy, incident=incident)


@router.delete("/{ref}/alerts/{alert_id}", response_model=IncidentOut)
def detach_alert(ref: str, alert_id: int, state: State, db: DB, who: Responder) -> IncidentOut:
    incident = incidents.get(db, ref, for_update=True)
    linking.detach(db, now=state.now(), actor=who.handle, incident=incident, alert_id=alert_id)
    return incident_full(db, policy=state.policy, incident=incident)


@router.post("/{ref}/acknowledge", response_model=IncidentOut)
def acknowledge(ref: str, state: State, db: DB, who: Responder) -> IncidentOut:
    incident = incidents.get(db, ref, for_update=True)
    incidents.acknowledge(db, policy=state.policy, now=state.now(), actor=who.handle, incident=incident)
    return incident_out(incident)


@router.post("/{ref}/updates", status_code=201, response_model=UpdateOut)
def post_update(ref: str, body: UpdateIn, state: State, db: DB, who: Responder) -> UpdateOut:
    incident = incidents.get(db, ref, for_update=True)
    update = updates.post_update(
        db, policy=state.policy, now=state.now(), actor=who.handle, incident=incident, message=body.message
    )
    return update_out(update)


@router.get("/{ref}/updates", response_model=list[UpdateOut])
def list_updates(ref: str, db: ReadDB, who: Viewer) -> list[UpdateOut]:
    incident = incidents.get(db, ref)
    return [update_out(u) for u in incident_queries.updates(db, incident_id=incident.id)]


@router.get("/{ref}/pages", response_model=list[PageOut])
def get_pages(ref: str, db: ReadDB, who: Viewer) -> list[PageOut]:
    """The levels of the service's escalation policy paged so far, and which one acknowledged."""
    incident = incidents.get(db, ref)
    return [PageOut.model_validate(p) for p in escalation.pages(db, incident.id)]


@router.get("/{ref}/timeline", response_model=TimelinePage)
def get_timeline(
    ref: str,
    db: ReadDB,
    who: Viewer,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    per_page: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> TimelinePage:
    """One page of the timeline, oldest first (an alert storm adds an entry per joining alert)."""
    incident = incidents.get(db, ref)
    rows, total = incident_queries.timeline_page(db, incident_id=incident.id, page=page, per_page=per_page)
    return TimelinePage(items=[timeline_out(e) for e in rows], total=total, page=page, per_page=per_page)


@router.post("/{ref}/timeline", status_code=201, response_model=TimelineOut)
def add_note(ref: str, body: NoteIn, state: State, db: DB, who: Responder) -> TimelineOut:
    incident = incidents.get(db, ref, for_update=True)
    entry = updates.add_note(
        db, now=state.now(), actor=who.handle, incident=incident, text=body.text, occurred_at=body.occurred_at
    )
    return timeline_out(entry)


def _pm_out(incident_ref: str, row: postmortems.PostmortemVersion) -> PostmortemOut:
    return PostmortemOut(
        incident=incident_ref,
        version=row.version,
        source=row.source,
        author=row.author,
        created_at=row.created_at,
        markdown=row.markdown,
    )


@router.get("/{ref}/postmortem", response_model=PostmortemOut, responses={200: {"content": {"text/markdown": {}}}})
def get_postmortem(
    ref: str,
    db: ReadDB,
    who: Viewer,
    accept: Annotated[str | None, Header()] = None,
    version: Annotated[int | None, Query(ge=1)] = None,
) -> PostmortemOut | Response:
    incident = incidents.get(db, ref)
    if version is not None:
        row = next((v for v in postmortems.versions(db, incident_id=incident.id) if v.version == version), None)
        if row is None:
            raise NotFound(f"{incident.ref} has no postmortem version {version}")
    else:
        row = postmortems.require_current(db, incident=incident)
    if accept and "text/markdown" in accept:
        return PlainTextResponse(
            row.markdown,
            media_type="text/markdown; charset=utf-8",
            headers={"Content-Disposition": f'inline; filename="{incident.ref}-postmortem.md"'},
        )
    return _pm_out(incident.ref, row)


@router.put("/{ref}/postmortem", response_model=PostmortemOut)
def save_postmortem(ref: str, body: PostmortemIn, state: State, db: DB, who: Responder) -> PostmortemOut:
    incident = incidents.get(db, ref, for_update=True)
    row = postmortems.save_edit(
        db, now=state.now(), actor=who.handle, incident=incident, markdown=body.markdown, base_version=body.base_version
    )
    return _pm_out(incident.ref, row)


@router.post("/{ref}/postmortem/generate", response_model=PostmortemOut)
def generate_postmortem(ref: str, state: State, db: DB, who: Responder, force: bool = False) -> PostmortemOut:
    incident = incidents.get(db, ref, for_update=True)
    row = postmortems.generate(
        db,
        policy=state.policy,
        now=state.now(),
        actor=who.handle,
        incident=incident,
        force=force,
        hooks=state.hooks,
    )
    assert row is not None
    return _pm_out(incident.ref, row)


@router.get("/{ref}/postmortem/versions", response_model=list[PostmortemVersionOut])
def postmortem_versions(ref: str, db: ReadDB, who: Viewer) -> list[PostmortemVersionOut]:
    incident = incidents.get(db, ref)
    return [
        PostmortemVersionOut(version=v.version, source=v.source, author=v.author, created_at=v.created_at)
        for v in postmortems.versions(db, incident_id=incident.id)
    ]


@router.get("/{ref}/updates/draft", response_model=DraftOut)
def draft(ref: str, state: State, db: ReadDB, who: Viewer) -> DraftOut:
    incident = incidents.get(db, ref)
    return DraftOut(**drafts.build(db, incident=incident, now=state.now()))


@router.get("/{ref}/cadence", response_model=CadenceOut)
def cadence_compliance(ref: str, state: State, db: ReadDB, who: Viewer) -> CadenceOut:
    incident = incidents.get(db, ref)
    return CadenceOut(**compliance.compute(db, incident=incident, now=state.now()))
