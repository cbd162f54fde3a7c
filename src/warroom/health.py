"""What /healthz reports: the database answers, and (once workers exist) they are alive."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from warroom import __version__


def check(state: Any) -> tuple[dict[str, Any], int]:
    body: dict[str, Any] = {"status": "ok", "version": __version__, "checks": {}}
    try:
        with state.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        body["checks"]["database"] = "ok"
    except Exception as exc:  # noqa: BLE001 - any driver error means the DB is unreachable
        body["status"] = "unavailable"
        body["checks"]["database"] = f"error: {type(exc).__name__}"
        return body, 503
    return body, 200
