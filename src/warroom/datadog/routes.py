"""/api/v1/datadog: the mirror's state, an incident's Datadog link, retry; the inbound notification webhook."""

from __future__ import annotations

import json

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from warroom.api.deps import DB, ReadDB, Responder, State, Viewer, authenticate
from warroom.api.errors import error_body
from warroom.core.errors import Forbidden, NotFound
from warroom.core.refs import number as incident_number
from warroom.core.settings import Settings
from warroom.core.uow import UnitOfWork
from warroom.datadog import client, inbound, queries, service
from warroom.datadog.models import DatadogMirror
from warroom.datadog.schemas import MirrorOut, StatusOut
from warroom.incidents.models import Incident
from warroom.ingest import parsers
from warroom.users import service as users

router = APIRouter(tags=["datadog"])


def mirror_out(settings: Settings, incident: Incident, row: DatadogMirror | None) -> MirrorOut:
    return MirrorOut(
        incident=incident.ref,
        datadog_id=incident.datadog_id,
        datadog_public_id=incident.datadog_public_id,
        datadog_url=client.app_url(settings, incident.datadog_public_id),
        state=row.state if row else "pending",
        origin=row.origin if row else "warroom",
        in_sync=row is None or row.synced_version >= row.version,
        last_error=row.last_error if row else None,
        synced_at=row.synced_at if row else None,
    )


@router.get("/api/v1/datadog", response_model=StatusOut)
def status(state: State, db: ReadDB, who: Viewer) -> StatusOut:
    """Whether the mirror is on, paused (refused keys), and the incidents it could not mirror."""
    if not client.enabled(state.settings):
        return StatusOut(enabled=False)
    return StatusOut(enabled=True, **queries.status(db).as_dict())


@router.get("/api/v1/incidents/{ref}/datadog", response_model=MirrorOut)
def incident_mirror(ref: str, state: State, db: ReadDB, who: Viewer) -> MirrorOut:
    incident = db.get(Incident, incident_number(ref))
    if incident is None:
        raise NotFound(f"no incident {ref}")
    return mirror_out(state.settings, incident, queries.of_incident(db, incident.id))


@router.post("/api/v1/incidents/{ref}/datadog/retry", response_model=MirrorOut)
def retry(ref: str, state: State, db: DB, who: Responder) -> MirrorOut:
    """Mirror again an incident Datadog refused (dead) or whose Datadog incident was deleted."""
    row = service.retry(db, incident_id=incident_number(ref), now=state.now())
    db.flush()
    incident = db.get(Incident, row.incident_id)
    assert incident is not None
    return mirror_out(state.settings, incident, row)


INBOUND = "datadog-incident"


@router.post(
    "/api/v1/ingest/datadog-incident",
    summary="Datadog incident notification webhook",
    responses={200: {"description": "applied: created, updated, echo, unchanged or duplicate"}},
)
async def datadog_incident(request: Request, state: State) -> JSONResponse:
    """An incident notification rule of Datadog (declared, or attributes updated) sends here with an
    ingest token: the incident becomes ours, later changes update it (docs/datadog.md for the body)."""
    body = await request.body()  # the app's BodyLimit already refused one over max_body_bytes
    try:
        data = json.loads(body)
    except ValueError as exc:
        return JSONResponse(error_body("bad_request", f"the body is not JSON: {exc}"), 400)

    def run() -> inbound.Received:
        with state.read_sessions() as session:
            principal = authenticate(request, session)
        if principal.kind == "ingest":
            name = principal.token.name if principal.token else ""
            if name in parsers.SOURCES:
                raise Forbidden(f"this ingest token is for {name}, not {INBOUND}")
        elif users.RANK[principal.role] < users.RANK["responder"]:
            raise Forbidden("this needs an ingest token (or the responder role)")
        with UnitOfWork(
            state.sessions, clock=state.clock, channel="api", actor=principal.handle, action=f"POST {request.url.path}"
        ) as session:
            return inbound.receive(
                session, policy=state.policy, now=state.now(), hooks=state.hooks, body=body, data=data
            )

    try:
        got = await run_in_threadpool(run)
    except inbound.NotYet as exc:
        return JSONResponse(error_body("unavailable", str(exc)), 503, headers={"Retry-After": "5"})
    return JSONResponse({"outcome": got.outcome, "incident": got.incident, "detail": got.detail})
