"""What /healthz reports: the database answers, a worker beat recently, and no notification is dead."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, text

from warroom import __version__
from warroom.notifications.rules import setup_problems


def _worker(state: Any, body: dict[str, Any]) -> int:
    """503 when workers have run here but none beat within `worker.stale_after`."""
    from warroom.notifications.models import WorkerHeartbeat

    now = state.clock.now()
    with state.read_sessions() as session:
        seen = session.scalar(select(func.count()).select_from(WorkerHeartbeat)) or 0
        newest = session.scalar(select(func.max(WorkerHeartbeat.beat_at)).where(WorkerHeartbeat.stopped_at.is_(None)))
    if not seen and "worker" not in state.extras:
        body["checks"]["worker"] = "none has run yet (start `warroom worker` or `warroom serve`)"
        body.setdefault("warnings", []).append("no worker has ever run: notifications will not be sent")
        return 200
    if newest is not None and newest.tzinfo is None:
        from warroom.clock import as_utc

        newest = as_utc(newest)
    limit = state.policy.worker.stale_after
    if newest is None or now - newest > limit:
        age = "never" if newest is None else f"{int((now - newest).total_seconds())}s ago"
        body["checks"]["worker"] = f"stale: last heartbeat {age} (limit {int(limit.total_seconds())}s)"
        body["status"] = "unavailable"
        return 503
    body["checks"]["worker"] = "ok"
    body["worker_last_beat"] = newest.isoformat()
    return 200


def _dead(state: Any, body: dict[str, Any]) -> None:
    from warroom.notifications.service import dead_count

    with state.read_sessions() as session:
        dead = dead_count(session)
    body["checks"]["notifications_dead"] = dead
    if dead:
        body.setdefault("warnings", []).append(
            f"{dead} dead notification(s): GET /api/v1/notifications?state=dead, then retry them"
        )


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
    status = _worker(state, body)
    problems = setup_problems(state.policy, slack_token=bool(state.settings.slack_token))
    if problems:
        body.setdefault("warnings", []).extend(problems)
    _dead(state, body)
    return body, status
