"""Public service status: no token, cacheable, CORS-open; nothing internal leaves."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import HTMLResponse, JSONResponse

from warroom.api.deps import ReadDB, State
from warroom.status import page
from warroom.status import service as status

router = APIRouter(tags=["status"])


def _headers(state: State) -> dict[str, str]:
    age = int(state.policy.status_page.cache_max_age.total_seconds())
    return {
        "Cache-Control": f"public, max-age={age}",
        "Access-Control-Allow-Origin": "*",
    }


@router.get("/api/v1/status", response_model=status.StatusOut)
def all_services(state: State, db: ReadDB) -> JSONResponse:
    """Every policy service: operational, degraded or outage (for outage banners)."""
    body = status.all_services(db, policy=state.policy, now=state.now())
    return JSONResponse(body.model_dump(mode="json"), headers=_headers(state))


@router.get("/api/v1/status/{service}", response_model=status.ServiceStatusOut)
def one_service(service: str, state: State, db: ReadDB) -> JSONResponse:
    body = status.one_service(db, policy=state.policy, key=service)
    return JSONResponse(body.model_dump(mode="json"), headers=_headers(state))


@router.options("/api/v1/status")
@router.options("/api/v1/status/{service}")
def preflight(state: State) -> Response:
    return Response(
        status_code=204,
        headers={
            **_headers(state),
            "Access-Control-Allow-Methods": "GET, OPTIONS",
            "Access-Control-Allow-Headers": "Content-Type",
            "Access-Control-Max-Age": "86400",
        },
    )


@router.get("/status", response_class=HTMLResponse, include_in_schema=False)
def status_page(state: State, db: ReadDB) -> HTMLResponse:
    body = status.all_services(db, policy=state.policy, now=state.now())
    age = int(state.policy.status_page.cache_max_age.total_seconds())
    html = page.render(body, title=state.policy.status_page.title, refresh_seconds=max(age, 30))
    return HTMLResponse(html, headers=_headers(state))
