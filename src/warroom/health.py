"""What /healthz reports: the database answers, then each domain's check (workers, outbox, ...)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from warroom import __version__
from warroom.core.hooks import Health
from warroom.core.state import AppState


def check(state: AppState) -> tuple[dict[str, Any], int]:
    """The body and its status code: 503 when unavailable, 200 otherwise (degraded says why)."""
    health = Health()
    try:
        with state.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        health.checks["database"] = "ok"
    except Exception as exc:  # noqa: BLE001 - any driver error means the DB is unreachable
        health.worsen("unavailable")
        health.checks["database"] = f"error: {type(exc).__name__}"
    else:
        for domain_check in state.hooks.health:
            domain_check(state, health)
    body: dict[str, Any] = {"status": health.status, "version": __version__, "checks": health.checks}
    if health.warnings:
        body["warnings"] = health.warnings
    body.update(health.extra)
    return body, 503 if health.status == "unavailable" else 200
