"""The alert webhooks' hot path: a bare ASGI layer in front of the app.

A webhook is answered without Starlette's request objects, routing or middleware stack (that
stack cost more than storing the alert): this layer reads the body under the size limit, tags the
answer with the request id and security headers, logs, counts, checks the token, rate-limits,
parses and triages, then hands the delivery to the group-commit writer, which runs `units`.
Each sender is answered after that commit; nothing is answered as stored that was not committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import os
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, Protocol

from starlette.types import ASGIApp, Receive, Scope, Send

from warroom.api.deps import token_of
from warroom.api.errors import error_body, unavailable_body
from warroom.api.limits import too_large_body
from warroom.api.requestid import log_access, request_id
from warroom.api.security import HEADERS as SECURITY_HEADERS
from warroom.core import metrics, outage
from warroom.core.logs import request_id_var
from warroom.core.ratelimit import retry_after_header
from warroom.core.state import AppState
from warroom.ingest import parsers
from warroom.ingest.fastpath.chunks import OFF_LOOP_BYTES, PAUSE, in_chunks
from warroom.ingest.fastpath.tokens import TokenCheck
from warroom.ingest.parsers import BadPayload, Incoming
from warroom.ingest.service import Triaged, TriageMemo
from warroom.users import service as users

PREFIX = "/api/v1/ingest/"


@dataclass(frozen=True)
class Webhook:
    """One alert source's webhook: the methods it is sent with, and its OpenAPI text."""

    methods: tuple[str, ...]
    summary: str
    description: str


WEBHOOKS = {  # the one table: the gate answers these, ingest.routes documents them
    "datadog": Webhook(("POST",), "Datadog monitor webhook", "The default body or the richer one in docs/alerts.md."),
    "alertmanager": Webhook(("POST",), "Prometheus Alertmanager webhook", "Alertmanager's webhook (version 4)."),
    "grafana": Webhook(
        ("POST", "PUT"), "Grafana alerting webhook", "Grafana's unified alerting webhook contact point (POST or PUT)."
    ),
    "events": Webhook(("POST",), "PagerDuty Events API v2", "Events shaped like PagerDuty's; answered like PagerDuty."),
}
METHODS = {source: hook.methods for source, hook in WEBHOOKS.items()}
REFUSED = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    413: "payload_too_large",
    429: "rate_limited",
    500: "error",
    503: "unavailable",
}
_RESTRICTED = set(parsers.SOURCES)  # an ingest token named after a source takes only that source
_IDS = itertools.count(1)
_ID_PREFIX = os.urandom(8).hex()  # per process: ids are unique without a urandom call per request
log = logging.getLogger(__name__)
_outages = outage.Throttled(log)
_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))  # built once, not per answer
_DIGESTS: dict[str, str] = {}  # token -> sha256: a sender sends the same token every time


@dataclass(slots=True)
class Reply:
    status: int
    body: dict[str, Any]
    headers: tuple[tuple[bytes, bytes], ...] = ()
    outcomes: tuple[str, ...] = ()  # each alert's outcome, for /metrics


@dataclass(slots=True)
class Delivery:
    """One webhook request, parsed and triaged, waiting for the writer."""

    source: str
    digest: str | None  # sha256 of the token
    items: list[Incoming]
    triaged: list[Triaged]
    services: frozenset[str]
    truncated: int
    problem: Reply | None


def _error(status: int, code: str, text: str, details: Any = None, extra: dict[str, Any] | None = None) -> Reply:
    headers = ((b"www-authenticate", b"Bearer"),) if status == 401 else ()
    return Reply(status, {**(extra or {}), **error_body(code, text, details)}, headers)


def bad(source: str, message: str, errors: list[str]) -> Reply:
    if source == "events":  # PagerDuty's answer shape, plus ours
        return _error(
            400, "bad_request", message, errors, {"status": "invalid event", "message": message, "errors": errors}
        )
    return _error(400, "bad_request", message, errors)


def _too_large(limit: int) -> Reply:
    return Reply(413, too_large_body(limit))


class Receiver(Protocol):
    """What the gate hands a delivery's body to (`FastPath`)."""

    async def receive(
        self, source: str, body: bytes, *, authorization: str, query_string: bytes, client: str
    ) -> Reply: ...


class Writer(Protocol):
    """Where deliveries go: the group-commit writer thread here, or the writer process's proxy."""

    def submit_async(self, delivery: Delivery) -> Awaitable[Reply]: ...


async def receive(
    state: AppState,
    writer: Writer,
    memo: TriageMemo,
    tokens: TokenCheck,
    source: str,
    body: bytes,
    *,
    authorization: str,
    query_string: bytes,
    client: str,
) -> Reply:
    """Everything but HTTP framing: the token first (nothing reads the body of a made-up one), the
    rate limit of a verified token, then parse, triage (off the event loop when big), store
    (answered after its commit; a storm a chunk per transaction, with the cyclic collector paused)."""
    big = len(body) > OFF_LOOP_BYTES
    with PAUSE if big else contextlib.nullcontext():
        plain = token_of(authorization, query_string)
        digest = _digest(plain) if plain else None
        data: Any = None
        if digest is None and source == "events":  # PagerDuty's routing_key: the token is in the body
            if len(body) > state.settings.ingest_body_token_max_bytes:
                return _too_large(state.settings.ingest_body_token_max_bytes)
            if wait := tokens.blocked(client):
                return _failures(wait)
            try:
                data = parsers.loads(body)
            except ValueError:
                data = None
            key = data.get("routing_key") if isinstance(data, dict) else None
            digest = _digest(key) if isinstance(key, str) and key else None
        if digest is None:
            if wait := tokens.blocked(client):
                return _failures(wait)
            tokens.failed(client)
            return unknown(None)
        known = tokens.fresh(digest)
        if known is None:
            if not tokens.seen(digest) and (wait := tokens.blocked(client)):
                return _failures(wait)
            known = await tokens.verify(digest)
            if known is None:
                tokens.failed(client)
                return unknown(digest)
        no = refused(source, known)
        if no is not None:
            return no
        if wait := state.ingest_limiter.hit(digest):  # verified tokens only: a made-up one has no bucket
            return _too_many(wait, "too many alerts from this token; retry later")
        items: list[Incoming] = []
        truncated, problem = 0, None
        try:
            if big:
                items, truncated = await asyncio.to_thread(_decode, source, body, data)
            else:
                items, truncated = _decode(source, body, data)
        except BadPayload as exc:
            problem = bad(source, str(exc), exc.errors)
        except ValueError as exc:
            problem = bad(source, f"the body is not valid JSON: {exc}", [str(exc)])
        triaged: list[Triaged] = []
        if problem is None:
            triaged = await asyncio.to_thread(_triage, memo, items) if big else _triage(memo, items)
        services = frozenset(t.service for t in triaged)  # run_deliveries locks them for the batch
        delivery = Delivery(source, digest, items, triaged, services, truncated, problem)
        chunk = state.settings.ingest_chunk_alerts
        if len(items) > chunk and problem is None:
            return await in_chunks(writer, delivery, chunk)
        return await writer.submit_async(delivery)


def _too_many(wait: float, message: str) -> Reply:
    return Reply(
        429, error_body("rate_limited", message), ((b"retry-after", retry_after_header(wait)["Retry-After"].encode()),)
    )


def _failures(wait: float) -> Reply:
    return _too_many(wait, "too many failed attempts from this address; retry later")


def _decode(source: str, body: bytes, data: Any) -> tuple[list[Incoming], int]:
    """Parse the body (already decoded when its token was in it)."""
    return parsers.parse(source, parsers.loads(body) if data is None else data)


def _triage(memo: TriageMemo, items: list[Incoming]) -> list[Triaged]:
    return [memo(item) for item in items]


def _digest(token: str) -> str:
    found = _DIGESTS.get(token)
    if found is None:
        if len(_DIGESTS) >= 1024:  # bounded: a flood of made-up tokens does not grow it
            _DIGESTS.clear()
        found = _DIGESTS[token] = users.hash_token(token)
    return found


def unknown(digest: str | None) -> Reply:
    if digest is None:
        return _error(
            401,
            "unauthorized",
            "missing ingest token: send 'Authorization: Bearer "
            "<token>', basic auth with the token as password, or ?token=",
        )
    return _error(401, "unauthorized", "invalid or revoked ingest token")


def refused(source: str, token: tuple[str, str]) -> Reply | None:
    kind, name = token
    if kind != "ingest":
        return _error(
            403, "forbidden", "this is a user token; alerts need an ingest token (warroom token create --ingest NAME)"
        )
    if name in _RESTRICTED and name != source:
        return _error(403, "forbidden", f"this ingest token is for {name}, not {source}")
    return None


def failure(exc: BaseException, what: str) -> Reply:
    """The database is down (503, retry) or a bug (500, logged); either way nothing was kept."""
    if outage.is_outage(exc):
        _outages.warn(f"{what} answered 503", exc)
        return Reply(503, unavailable_body(exc), ((b"retry-after", str(outage.RETRY_AFTER_S).encode()),))
    log.error("%s failed", what, exc_info=exc)
    return Reply(500, error_body("internal_error", "the alert could not be stored (nothing was kept); retry later"))


def count(source: str, reply: Reply) -> None:
    """Counted after the commit, in the answering process (never twice for a replayed unit)."""
    for outcome in reply.outcomes or (REFUSED.get(reply.status, f"http_{reply.status}"),):
        metrics.ALERTS_RECEIVED.labels(source=source, outcome=outcome).inc()


class IngestGate:
    """Outermost ASGI layer: the webhook routes of METHODS, everything else passes to the app."""

    def __init__(self, app: ASGIApp, receiver: Receiver, *, max_bytes: int) -> None:
        self.app = app
        self.receiver = receiver
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive_: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["path"].startswith(PREFIX)
            and scope["method"] in METHODS.get(scope["path"][len(PREFIX) :], ())
        ):
            await self._serve(scope, receive_, send, scope["path"][len(PREFIX) :])
            return
        await self.app(scope, receive_, send)

    async def _serve(self, scope: Scope, receive_: Receive, send: Send, source: str) -> None:
        started = time.perf_counter()
        authorization, rid, length = "", "", b""
        for name, value in scope["headers"]:
            if name == b"authorization":
                authorization = value.decode("latin-1")
            elif name == b"x-request-id":
                rid = request_id(value) or ""
            elif name == b"content-length":
                length = value
        rid = rid or f"{_ID_PREFIX}{next(_IDS):016x}"
        context = request_id_var.set(rid)
        try:
            reply = await self._reply(scope, receive_, source, authorization, length)
        except Exception as exc:  # noqa: BLE001 - every sender gets an answer
            reply = failure(exc, f"{scope['method']} {scope['path']}")
        try:
            if reply is not None:
                await self._send(send, reply, rid)
                count(source, reply)
        finally:
            status = reply.status if reply is not None else 499  # the sender went away
            log_access(scope["method"], scope["path"], status, rid, started)
            request_id_var.reset(context)

    async def _reply(
        self, scope: Scope, receive_: Receive, source: str, authorization: str, length: bytes
    ) -> Reply | None:
        if length.isdigit() and int(length) > self.max_bytes:
            return _too_large(self.max_bytes)
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive_()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                return _too_large(self.max_bytes)
            chunks.append(chunk)
            if not message.get("more_body"):
                break
        client = scope.get("client")
        return await self.receiver.receive(
            source,
            b"".join(chunks),
            authorization=authorization,
            query_string=scope.get("query_string", b""),
            client=client[0] if client else "?",
        )

    @staticmethod
    async def _send(send: Send, reply: Reply, rid: str) -> None:
        body = _JSON.encode(reply.body).encode()
        await send(
            {
                "type": "http.response.start",
                "status": reply.status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"x-request-id", rid.encode()),
                    *SECURITY_HEADERS,
                    *reply.headers,
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
