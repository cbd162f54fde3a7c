"""Every error leaves as JSON `{"error": {"code", "message", "details"}}`."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException

from warroom.core import outage
from warroom.core.errors import Conflict, Forbidden, Invalid, NotFound, WarroomError

log = logging.getLogger(__name__)
_outages = outage.Throttled(log)

STATUS = {NotFound: 404, Conflict: 409, Invalid: 422, Forbidden: 403}
HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid",
    429: "rate_limited",
    503: "unavailable",
}


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details}}


def _status_for(exc: WarroomError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 400


def _field(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


def unavailable_body(exc: BaseException) -> dict[str, Any]:
    what = "conflict" if outage.is_conflict(exc) else "database"
    return error_body(
        "unavailable", f"temporarily unavailable ({what}); retry later", {"retry_after": outage.RETRY_AFTER_S}
    )


def unavailable(exc: BaseException) -> JSONResponse:
    """503 + Retry-After: the database is down or the request lost a lock race; nothing was kept."""
    return JSONResponse(unavailable_body(exc), 503, headers={"Retry-After": str(outage.RETRY_AFTER_S)})


def _nul_in_text(exc: sa_exc.DBAPIError) -> bool:
    """PostgreSQL text cannot hold U+0000 (psycopg refuses it before sending); the input is at fault."""
    return isinstance(exc, sa_exc.DataError) and "NUL (0x00)" in str(exc.orig)


def install(app: FastAPI) -> None:
    @app.exception_handler(sa_exc.DBAPIError)
    async def _database(request: Request, exc: sa_exc.DBAPIError) -> JSONResponse:
        if _nul_in_text(exc):
            return JSONResponse(error_body("invalid", "text cannot contain the NUL character (\\u0000)"), 422)
        if not outage.is_outage(exc):
            raise exc  # a bug: api.requestid logs it (redacted) and answers the JSON envelope
        _outages.warn(f"{request.method} {request.url.path} answered 503", exc)
        return unavailable(exc)

    @app.exception_handler(sa_exc.TimeoutError)
    async def _pool(request: Request, exc: sa_exc.TimeoutError) -> JSONResponse:
        _outages.warn(f"{request.method} {request.url.path} answered 503", exc)
        return unavailable(exc)

    @app.exception_handler(WarroomError)
    async def _domain(_: Request, exc: WarroomError) -> JSONResponse:
        return JSONResponse(error_body(exc.code, exc.message, exc.details), _status_for(exc))

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = []
        for err in exc.errors():
            if err.get("type") == "json_invalid":
                return JSONResponse(
                    error_body(
                        "bad_request", "the body is not valid JSON", {"position": err.get("ctx", {}).get("error")}
                    ),
                    400,
                )
            problems.append({"field": _field(tuple(err["loc"])), "message": err["msg"], "type": err["type"]})
        first = problems[0] if problems else {"field": "body", "message": "invalid"}
        return JSONResponse(error_body("invalid", f"{first['field']}: {first['message']}", problems), 422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = HTTP_CODES.get(exc.status_code, "error")
        detail = exc.detail if isinstance(exc.detail, str) else code
        return JSONResponse(error_body(code, detail), exc.status_code, headers=getattr(exc, "headers", None))
