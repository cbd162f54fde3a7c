"""Give every request an id (X-Request-ID in and out), put it on every log line, and write one
access line per request: method, path without its query (it may carry ?token=), status, time."""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from typing import Any

from sqlalchemy import exc as sa_exc
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from warroom.api.errors import error_body
from warroom.api.security import HEADERS
from warroom.core.logs import request_id_var

log = logging.getLogger("warroom.access")
errors_log = logging.getLogger("warroom.errors")
_VALID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
QUIET_PREFIX = "/api/v1/ingest/"


class RequestContext:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = request_id(dict(scope.get("headers") or []).get(b"x-request-id", b"")) or uuid.uuid4().hex
        token = request_id_var.set(rid)
        started = time.perf_counter()
        status: dict[str, Any] = {"code": 500}

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"], status["sent"] = message["status"], True
                MutableHeaders(scope=message).append("X-Request-ID", rid)
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:  # a bug: logged here (redacted, with the request id), answered as JSON
            status["code"] = 500
            started_response = "sent" in status
            log_unhandled(scope, exc)
            if not started_response:
                await send_error(send, rid)
        finally:
            log_access(scope.get("method") or "", scope.get("path") or "", status["code"], rid, started)
            request_id_var.reset(token)


def log_unhandled(scope: Scope, exc: Exception) -> None:
    """Through our handlers and their redacting formatter; SQL parameters (hashes, tokens) left out."""
    if isinstance(exc, sa_exc.StatementError):
        exc.hide_parameters = True
    errors_log.error("unhandled %s in %s %s", type(exc).__name__, scope.get("method"), scope.get("path"), exc_info=exc)


async def send_error(send: Send, rid: str) -> None:
    body = json.dumps(
        error_body(
            "internal_error", f"internal error; the server log has it under request id {rid}", {"request_id": rid}
        )
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 500,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"cache-control", b"no-store"),
                (b"x-request-id", rid.encode()),
                *HEADERS,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def request_id(incoming: bytes) -> str | None:
    """The caller's X-Request-ID if it is a sane one (it goes into logs), else None."""
    text = incoming.decode("latin-1")
    return text if _VALID.match(text) else None


def log_access(method: str, path: str, status: int, rid: str, started: float) -> None:
    """One access line. An accepted alert is counted in /metrics; a line each would be most of
    an alert storm's log (and ~10% of an alert's CPU), so those are DEBUG; refused ones INFO."""
    level = logging.DEBUG if status < 400 and path.startswith(QUIET_PREFIX) else logging.INFO
    if log.isEnabledFor(level):
        log.log(
            level,
            "%s %s %s",
            method,
            path,
            status,
            extra={
                "request_id": rid,
                "method": method,
                "path": path,
                "status": status,
                "duration_ms": round((time.perf_counter() - started) * 1000, 2),
            },
        )
