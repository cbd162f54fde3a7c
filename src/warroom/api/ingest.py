"""/api/v1/ingest/*: alert webhooks; /api/v1/alerts and /api/v1/triage/simulate to read and try."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.routing import Route

from warroom import metrics
from warroom.api.deps import AppState, ReadDB, State, Viewer, get_state, token_from_request
from warroom.api.errors import error_body
from warroom.api.groupcommit import GroupCommitter
from warroom.api.security import limiter, retry_after_header
from warroom.incidents.service import parse_ref
from warroom.ingest import grouping, parsers
from warroom.ingest import service as ingest
from warroom.ingest.parsers import BadPayload, Incoming
from warroom.ingest.schemas import AlertDetail, AlertPage
from warroom.ingest.views import alert_detail, alert_out
from warroom.users import service as users

router = APIRouter(tags=["alerts"])
Answer = tuple[JSONResponse, list[str]]  # the response, and each alert's outcome for /metrics

_RESTRICTED = set(parsers.SOURCES)


def _error(http_status: int, code: str, text: str, details: Any = None,
           extra: dict[str, Any] | None = None) -> JSONResponse:
    return JSONResponse({**(extra or {}), **error_body(code, text, details)}, http_status,
                        headers={"WWW-Authenticate": "Bearer"} if http_status == 401 else None)


def _bad(source: str, message: str, errors: list[str]) -> JSONResponse:
    if source == "events":  # PagerDuty's answer shape, plus ours
        return _error(400, "bad_request", message, errors,
                      {"status": "invalid event", "message": message, "errors": errors})
    return _error(400, "bad_request", message, errors)


def _prepare(source: str, body: bytes) -> tuple[list[Incoming], int, Any, JSONResponse | None]:
    """Parse in the event loop (cheap, no I/O); a problem is answered only after auth."""
    try:
        data = parsers.loads(body)
    except ValueError as exc:
        return [], 0, None, _bad(source, f"the body is not valid JSON: {exc}", [str(exc)])
    try:
        items, truncated = parsers.parse(source, data)
    except BadPayload as exc:
        return [], 0, data, _bad(source, str(exc), exc.errors)
    return items, truncated, data, None


def _work(state: AppState, source: str, plain: str | None, items: list[Incoming],
          triaged: list[ingest.Triaged], services: frozenset[str], truncated: int,
          problem: JSONResponse | None) -> Callable[[Session], Answer]:
    """The unit of work the writer runs inside the shared transaction."""

    def run(session: Session) -> Answer:
        if not plain:
            return _error(401, "unauthorized", "missing ingest token: send 'Authorization: "
                          "Bearer <token>', basic auth with the token as password, or ?token="), []
        # Tokens looked up once per transaction (a group-commit batch shares one snapshot).
        seen: dict[str, tuple[str, str] | None] = session.info.setdefault("ingest_tokens", {})
        if plain not in seen:
            seen[plain] = users.token_kind(session, plain)
        token = seen[plain]
        if token is None:
            return _error(401, "unauthorized", "invalid or revoked ingest token"), []
        kind, name = token
        if kind != "ingest":
            return _error(403, "forbidden", "this is a user token; alerts need an ingest token "
                          "(warroom token create --ingest NAME)"), []
        if name in _RESTRICTED and name != source:
            return _error(403, "forbidden", f"this ingest token is for {name}, not {source}"), []
        if problem is not None:
            return problem, []
        outcomes = ingest.ingest(session, policy=state.policy, now=state.now(), items=items,
                                 triaged=triaged, prelocked=services)
        counted = [_outcome(o) for o in outcomes]
        if source == "events":
            return JSONResponse({"status": "success", "message": "Event processed",
                                 "dedup_key": items[0].dedup_key}, 202), counted
        return JSONResponse({
            "status": "accepted", "truncated_alerts": truncated,
            "alerts": [{"id": o.alert_id, "dedup_key": o.dedup_key, "status": o.status,
                        "duplicate": o.duplicate,
                        "incident": f"INC-{o.incident_id}" if o.incident_id else None}
                       for o in outcomes]}, 202), counted

    return run


def _outcome(o: ingest.Outcome) -> str:
    if o.duplicate:
        return "duplicate"
    if o.created:
        return "created"
    return "resolved" if o.status == "resolved" else "updated"


REFUSED = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 429: "rate_limited"}


def _count(source: str, response: JSONResponse, outcomes: list[str]) -> None:
    """Counted after the commit, in the answering process (never twice for a replayed unit)."""
    for outcome in outcomes or [REFUSED.get(response.status_code, f"http_{response.status_code}")]:
        metrics.ALERTS_RECEIVED.labels(source=source, outcome=outcome).inc()


def _writer(state: AppState) -> GroupCommitter:
    writer = state.extras.get("ingest_writer")
    if writer is None:
        writer = state.extras.setdefault("ingest_writer", GroupCommitter(
            state.sessions, prelock=grouping.lock_services))
    return writer  # type: ignore[no-any-return]


async def _receive(request: Request, source: str) -> JSONResponse:
    state = get_state(request)
    body = await request.body()
    items, truncated, data, problem = _prepare(source, body)
    plain = token_from_request(request)
    if not plain and source == "events" and isinstance(data, dict):
        plain = data.get("routing_key") if isinstance(data.get("routing_key"), str) else None
    addr = request.client.host if request.client else "?"
    key = hashlib.sha256(plain.encode()).hexdigest() if plain else f"ip:{addr}"
    wait = limiter(state, "ingest").hit(key)
    if wait:
        refused = JSONResponse(error_body("rate_limited", "too many alerts from this token; retry later"),
                               429, headers=retry_after_header(wait))
        _count(source, refused, [])
        return refused
    triaged = [ingest.triage(state.policy, item) for item in items] if problem is None else []
    services = frozenset(t.service for t in triaged)  # the writer prelocks them for the batch
    work = _work(state, source, plain, items, triaged, services, truncated, problem)
    response, outcomes = await asyncio.wrap_future(_writer(state).submit(work, services))
    _count(source, response, outcomes)
    return response  # type: ignore[no-any-return]


def fast_routes() -> list[Route]:
    """Plain Starlette routes for the webhooks, matched before FastAPI's router: the same
    handler without route scanning and dependency solving (about half an alert's CPU). The
    FastAPI routes below document them in OpenAPI."""

    def endpoint(source: str) -> Callable[[Request], Awaitable[JSONResponse]]:
        async def receive(request: Request) -> JSONResponse:
            return await _receive(request, source)
        return receive

    routes = [Route(f"/api/v1/ingest/{source}", endpoint(source), methods=["POST"],
                    include_in_schema=False) for source in parsers.SOURCES]
    routes.append(Route("/api/v1/ingest/grafana", endpoint("grafana"), methods=["PUT"],
                        include_in_schema=False))
    return routes


_DOC = {202: {"description": "Stored (answered after commit)"}, 400: {"description": "Bad body"},
        401: {"description": "Missing or wrong token"}, 413: {"description": "Body too large"}}


@router.post("/api/v1/ingest/datadog", status_code=202, responses=_DOC)  # type: ignore[arg-type]
async def datadog(request: Request) -> JSONResponse:
    """Datadog monitor webhook: the default body or the richer one in docs/alerts.md."""
    return await _receive(request, "datadog")


@router.post("/api/v1/ingest/alertmanager", status_code=202, responses=_DOC)  # type: ignore[arg-type]
async def alertmanager(request: Request) -> JSONResponse:
    """Prometheus Alertmanager webhook (version 4)."""
    return await _receive(request, "alertmanager")


@router.post("/api/v1/ingest/grafana", status_code=202, responses=_DOC,  # type: ignore[arg-type]
             operation_id="ingest_grafana_post")
async def grafana(request: Request) -> JSONResponse:
    """Grafana unified alerting webhook contact point (POST or PUT)."""
    return await _receive(request, "grafana")


@router.put("/api/v1/ingest/grafana", status_code=202, responses=_DOC,  # type: ignore[arg-type]
            operation_id="ingest_grafana_put")
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
        db, status=status, service=service, source=source,
        incident_id=parse_ref(incident) if incident else None, unlinked=unlinked, page=page,
        per_page=per_page)
    return AlertPage(items=[alert_out(a) for a in rows], total=total, page=page,
                     per_page=per_page)


@router.get("/api/v1/alerts/{alert_id}", response_model=AlertDetail)
def show_alert(
    alert_id: int,
    db: ReadDB,
    who: Viewer,
    events_limit: Annotated[int, Query(ge=1, le=500, description="Events per page, newest first")] = 50,
    events_before: Annotated[int | None, Query(ge=1, le=2**31 - 1, description=(
        "Only events with a smaller id: `events_next_before` of the previous page"))] = None,
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
        return _bad("simulate", f"cannot read this {source} payload: {exc}", errors)

    def run() -> list[dict[str, Any]]:
        with state.read_sessions() as session:
            return ingest.simulate(session, policy=state.policy, now=state.now(), items=items)

    results = await run_in_threadpool(run)
    return JSONResponse({"source": source, "stored": False, "truncated_alerts": truncated,
                         "results": results})
