"""The ASGI application: JSON API, webhooks, web UI, health."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from sqlalchemy.engine import Engine

from warroom import __version__
from warroom.api import admin, errors, incidents
from warroom.api.deps import AppState
from warroom.api.ingest_gate import IngestGate
from warroom.api.limits import BodyLimit
from warroom.api.requestid import RequestContext
from warroom.api.security import SecurityHeaders
from warroom.clock import Clock, SystemClock
from warroom.db import make_engine
from warroom.policy import Policy, load_policy
from warroom.settings import Settings, get_settings
from warroom.walcheckpoint import for_engine

# Hooks other packages register: routers to include and background loops to run.
ROUTER_MODULES: list[str] = [
    "warroom.api.ingest",
    "warroom.api.notifications",
    "warroom.api.deploys",
    "warroom.api.status",
    "warroom.api.reports",
    "warroom.api.metrics",
    "warroom.web.router",
]
Lifespan = Callable[[AppState], Any]


def create_app(
    settings: Settings | None = None,
    *,
    policy: Policy | None = None,
    clock: Clock | None = None,
    engine: Engine | None = None,
    run_worker: bool = False,
    ingest_process: bool = False,
) -> FastAPI:
    """`ingest_process`: store alerts in a writer process of its own (`api.ingest_proc`; it keeps
    the system clock, so only `serve` asks for it)."""
    settings = settings or get_settings()
    policy = policy or load_policy(settings.policy)
    # SQLite: a side thread checkpoints the WAL (walcheckpoint); commits only as a safety net.
    engine = engine or make_engine(
        settings.database_url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        wal_autocheckpoint=SAFETY_AUTOCHECKPOINT,
    )
    state = AppState(settings=settings, policy=policy, engine=engine, clock=clock or SystemClock())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        stop = None
        checkpointer = state.extras["wal_checkpointer"] = for_engine(engine)
        writer = None
        if ingest_process:
            from warroom.api.ingest_proc import ProcessWriter

            writer = state.extras["ingest_writer"] = await ProcessWriter(settings, state.policy).start()
        if run_worker:
            from warroom.worker import start_background_worker

            stop = start_background_worker(state)
        try:
            yield
        finally:
            if stop is not None:
                stop()
            if writer is not None:
                await writer.stop()
            if checkpointer is not None:
                checkpointer.stop()

    # FastAPI's OpenTelemetry hooks cost ~10% of a small request even when unconfigured.
    app = WarroomApp(
        title="warroom",
        version=__version__,
        lifespan=lifespan,
        telemetry={"tracing": False, "metrics": False, "logs": False},
        description="Incident response: alerts in, incidents, status updates on "
        "cadence, postmortems. Authenticate with `Authorization: Bearer`.",
    )
    app.state.warroom = state
    errors.install(app)
    app.include_router(incidents.router)
    app.include_router(admin.router)
    _include_optional(app)

    @app.get("/healthz", tags=["health"])
    def healthz() -> JSONResponse:
        from warroom import health

        body, status = health.check(state)
        return JSONResponse(body, status)

    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(RequestContext)  # outermost: every response carries X-Request-ID
    return app


SAFETY_AUTOCHECKPOINT = 10_000  # WAL pages (40 MB): commits checkpoint only if the thread falls behind


class WarroomApp(FastAPI):
    """FastAPI with the webhook gate outside every middleware: alerts skip the whole stack."""

    def build_middleware_stack(self) -> Any:
        return IngestGate(super().build_middleware_stack(), self.state.warroom)


def _include_optional(app: FastAPI) -> None:
    """Routers of domains that may not exist yet in a given build (ingest, web, status...)."""
    import importlib

    for name in ROUTER_MODULES:
        module = importlib.import_module(name)
        app.include_router(module.router)
