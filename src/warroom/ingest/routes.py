"""/api/v1/ingest/*: the alert webhooks, documented here and answered by the fast path's gate;
/api/v1/triage/simulate: what a payload would do, storing nothing."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from warroom.api.deps import State, Viewer
from warroom.ingest import parsers
from warroom.ingest import service as ingest
from warroom.ingest.fastpath import FastPath, gate
from warroom.ingest.parsers import BadPayload

router = APIRouter(tags=["alerts"])
_DOC: dict[int | str, dict[str, Any]] = {
    202: {"description": "Stored (answered after commit)"},
    400: {"description": "Bad body"},
    401: {"description": "Missing or wrong token"},
    413: {"description": "Body too large"},
    429: {"description": "Too many alerts from this token (Retry-After)"},
    503: {"description": "Database unavailable; nothing stored (Retry-After)"},
}


async def _receive(request: Request) -> JSONResponse:
    """The gate answers these paths before routing; this runs only for an app built without it."""
    fastpath = getattr(request.app, "fastpath", None)
    if not isinstance(fastpath, FastPath):
        raise RuntimeError("webhooks are answered by the fast path's gate (warroom.app builds it)")
    source = request.url.path.rsplit("/", 1)[-1]
    try:
        reply = await fastpath.receive(
            source,
            await request.body(),
            authorization=request.headers.get("authorization", ""),
            query_string=request.scope.get("query_string", b""),
            client=request.client.host if request.client else "?",
        )
    except Exception as exc:  # noqa: BLE001 - every sender gets an answer
        reply = gate.failure(exc, f"{request.method} {request.url.path}")
    gate.count(source, reply)
    return JSONResponse(reply.body, reply.status, headers={k.decode(): v.decode() for k, v in reply.headers})


for _source, _hook in gate.WEBHOOKS.items():  # one table: the gate's dispatch and these docs
    for _method in _hook.methods:
        router.add_api_route(
            f"{gate.PREFIX}{_source}",
            _receive,
            methods=[_method],
            status_code=202,
            responses=_DOC,
            summary=_hook.summary,
            description=_hook.description,
            operation_id=f"ingest_{_source}_{_method.lower()}",
        )


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
