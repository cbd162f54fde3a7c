"""/api/v1/datadog: the mirror's state, an incident's Datadog link, retry; the inbound notification webhook."""

from __future__ import annotations

from fastapi import APIRouter

from warroom.api.deps import DB, ReadDB, Responder, State, Viewer
from warroom.core.errors import NotFound
from warroom.core.refs import number as incident_number
from warroom.core.settings import Settings
from warroom.datadog import client, queries, service
from warroom.datadog.models import DatadogMirror
from warroom.datadog.schemas import MirrorOut, StatusOut
from warroom.incidents.models import Incident

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
