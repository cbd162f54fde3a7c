"""The ASGI application, built from the wiring: every domain's routes and pages, health, metrics, static files."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy.engine import Engine

from warroom import __version__, health, wiring
from warroom.api import errors
from warroom.api.deps import ReadDB, State
from warroom.api.limits import BodyLimit
from warroom.api.requestid import RequestContext
from warroom.api.security import SecurityHeaders
from warroom.core import metrics
from warroom.core.clock import Clock, SystemClock
from warroom.core.db import make_engine
from warroom.core.settings import Settings, get_settings
from warroom.core.state import AppState
from warroom.ingest.fastpath import FastPath
from warroom.policy import Policy, load_policy
from warroom.registry import Registry
from warroom.web import static

if TYPE_CHECKING:
    from warroom.worker import Worker

SAFETY_AUTOCHECKPOINT = 10_000  # WAL pages (40 MB): commits checkpoint only if the thread falls behind


class WarroomApp(FastAPI):
    """FastAPI with the webhook gate outside every middleware: alerts skip the whole stack."""

    fastpath: FastPath
    warroom: AppState
    worker: Worker | None = None  # the worker thread `serve` runs, if any

    def build_middleware_stack(self) -> Any:
        return self.fastpath.gate(super().build_middleware_stack())


def create_app(
    settings: Settings | None = None,
    *,
    policy: Policy | None = None,
    clock: Clock | None = None,
    engine: Engine | None = None,
    run_worker: bool = False,
    ingest_process: bool = False,
    registry: Registry | None = None,
) -> WarroomApp:
    """`ingest_process`: store alerts in a writer process of its own (the fast path's; it keeps
    the system clock, so only `serve` asks for it). `registry`: default, the wiring's."""
    settings = settings or get_settings()
    policy = policy or load_policy(settings.policy)
    registry = registry or wiring.build_registry()
    # SQLite: a side thread checkpoints the WAL (the fast path's); commits only as a safety net.
    engine = engine or make_engine(
        settings.database_url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        wal_autocheckpoint=SAFETY_AUTOCHECKPOINT,
    )
    state = AppState(
        settings=settings,
        policy=policy,
        engine=engine,
        clock=clock or SystemClock(),
        hooks=registry.hooks(),
        worker_in_process=run_worker,
    )
    fastpath = FastPath(state, writer_process=ingest_process)

    @asynccontextmanager
    async def lifespan(app: WarroomApp) -> AsyncIterator[None]:
        stop: Callable[[], None] | None = None
        await fastpath.start()
        if run_worker:
            from warroom.worker import start_background_worker

            app.worker, stop = start_background_worker(state, registry)
        try:
            yield
        finally:
            if stop is not None:
                stop()
            await fastpath.stop()

    # FastAPI's OpenTelemetry hooks cost ~10% of a small request even when unconfigured.
    app = WarroomApp(
        title="warroom",
        version=__version__,
        lifespan=lifespan,
        telemetry={"tracing": False, "metrics": False, "logs": False},
        docs_url=None,  # web.static serves /docs from vendored files (FastAPI's loads them from a CDN)
        redoc_url=None,
        description="Incident response: alerts in, incidents, status updates on "
        "cadence, postmortems. Authenticate with `Authorization: Bearer`.",
    )
    app.fastpath, app.warroom = fastpath, state
    app.state.warroom = state
    errors.install(app)
    for router in registry.routers:
        app.include_router(router)
    for router in registry.pages:
        app.include_router(router, include_in_schema=False)
    app.include_router(static.router)

    @app.get("/healthz", tags=["health"])
    def healthz() -> JSONResponse:
        body, status = health.check(state)
        return JSONResponse(body, status)

    @app.get("/metrics", include_in_schema=False)
    def scrape(state: State, db: ReadDB) -> Response:
        """Prometheus: process counters and each domain's gauges (restrict it at the proxy if you must)."""
        body = metrics.exposition(db, now=state.now(), sources=state.hooks.metrics)
        return Response(body, media_type=CONTENT_TYPE_LATEST, headers={"Cache-Control": "no-store"})

    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(RequestContext)  # outermost: every response carries X-Request-ID
    return app
