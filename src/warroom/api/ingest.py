"""/api/v1/ingest/*: alert webhooks; /api/v1/alerts and /api/v1/triage/simulate to read and try."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from warroom.api import ingest_gate as gate
from warroom.api.deps import ReadDB, State, Viewer, get_state
from warroom.incidents.service import parse_ref
from warroom.ingest import parsers
from warroom.ingest import service as ingest
from warroom.ingest.parsers import BadPayload
from warroom.ingest.schemas import AlertDetail, AlertPage
from warroom.ingest.views import alert_detail, alert_out

router = APIRouter(tags=["alerts"])


async def _receive(request: Request, source: str) -> JSONResponse:
    """These routes document the webhooks in OpenAPI; `IngestGate` answers them before routing."""
    client = request.client.host if request.client else "?"
    try:
        reply = await gate.receive(
            get_state(request),
            source,
            await request.body(),
            authorization=request.headers.get("authorization", ""),
            query_string=request.scope.get("query_string", b""),
            client=client,
        )
    except Exception as exc:  # noqa: BLE001 - every sender gets an answer
        reply = gate.failure(exc, f"{request.method} {request.url.path}")
    gate.count(source, reply)
    return JSONResponse(reply.body, reply.status, headers={k.decode(): v.decode() for k, v in reply.headers})


_DOC = {
    202: {"description": "Stored (answered after commit)"},
    400: {"description": "Bad body"},
    401: {"description": "Missing or wrong token"},
    413: {"description": "Body too large"},
    429: {"description": "Too many alerts from this token (Retry-After)"},
    503: {"description": "Database unavailable; nothing stored (Retry-After)"},
}


@router.post("/api/v1/ingest/datadog", status_code=202, responses=_DOC)  # type: ignore[arg-type]
async def datadog(request: Request) -> JSONResponse:
    """Datadog monitor webhook: the default body or the richer one in docs/alerts.md."""
    return await _receive(request, "datadog")


@router.post("/api/v1/ingest/alertmanager", status_code=202, responses=_DOC)  # type: ignore[arg-type]
async def alertmanager(request: Request) -> JSONResponse:
    """Prometheus Alertmanager webhook (version 4)."""
    return await _receive(request, "alertmanager")


@router.post(
    "/api/v1/ingest/grafana",
    status_code=202,
    responses=_DOC,  # type: ignore[arg-type]
    operation_id="ingest_grafana_post",
)
async def grafana(request: Request) -> JSONResponse:
    """Grafana unified alerting webhook contact point (POST or PUT)."""
    return await _receive(request, "grafana")


@router.put(
    "/api/v1/ingest/grafana",
    status_code=202,
    responses=_DOC,  # type: ignore[arg-type]
    operation_id="ingest_grafana_put",
)
async def grafana_put(request: Request) -> JSONResponse:
    """Grafana may be configured to PUT; same handling as POST."""
    return await _receive(request, "grafana")


@router.post("/api/v1/ingest/events", status_code=202, responses=_DOC)  # type: ignore[arg-type]
async def events(request: Request) -> JSONResponse:
    """PagerDuty Events API v2 shaped events; answers like PagerDuty."""
    return await _receive(request, "events")


@router.get("/api/v1/alerts", response_model=AlertPage)
def list_alerts(
    db: ReadDB,
    who: Viewer,
    status: Annotated[str | None, Query(pattern=r"^(firing|resolved)(,(firing|resolved))?$")] = None,
    service: Annotated[str | None, Query(max_length=64)] = None,
    source: Annotated[str | None, Query(pattern=r"^(datadog|alertmanager|grafana|events)$")] = None,
    incident: Annotated[str | None, Query(max_length=20)] = None,
    unlinked: bool | None = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    per_page: Annotated[int, Query(ge=1, le=500)] = 50,
) -> AlertPage:
    rows, total = ingest.list_alerts(
        db,
        status=status,
        service=service,
        source=source,
        incident_id=parse_ref(incident) if incident else None,
        unlinked=unlinked,
        page=page,
        per_page=per_page,
    )
    return AlertPage(items=[alert_out(a) for a in rows], total=total, page=page, per_page=per_page)


@router.get("/api/v1/alerts/{alert_id}", response_model=AlertDetail)
def show_alert(
    alert_id: int,
    db: ReadDB,
    who: Viewer,
    events_limit: Annotated[int, Query(ge=1, le=500, description="Events per page, newest first")] = 50,
    events_before: Annotated[
        int | None,
        Query(
            ge=1, le=2**31 - 1, description=("Only events with a smaller id: `events_next_before` of the previous page")
        ),
    ] = None,
) -> AlertDetail:
    """The alert and one page of its events with their raw bodies (`events_total` counts them all)."""
    alert = ingest.get_alert(db, alert_id)
    got = ingest.events(db, alert_id=alert.id, limit=events_limit, before=events_before)
    return alert_detail(alert, got.events, total=got.total, older=got.older)


@router.post("/api/v1/triage/simulate")
async def simulate(
    request: Request,
    state: State,
    who: Viewer,
    source: Annotated[str, Query(pattern=r"^(datadog|alertmanager|grafana|events)$")] = "datadog",
) -> JSONResponse:
    """What a payload would do (service, tier, priority, rule ids, declare?); stores nothing."""
    body = await request.body()
    try:
        items, truncated = parsers.parse(source, parsers.loads(body))
    except ValueError as exc:
        errors = exc.errors if isinstance(exc, BadPayload) else [str(exc)]
        reply = gate.bad("simulate", f"cannot read this {source} payload: {exc}", errors)
        return JSONResponse(reply.body, reply.status)

    def run() -> list[dict[str, Any]]:
        with state.read_sessions() as session:
            return ingest.simulate(session, policy=state.policy, now=state.now(), items=items)

    results = await run_in_threadpool(run)
    return JSONResponse({"source": source, "stored": False, "truncated_alerts": truncated, "results": results})
