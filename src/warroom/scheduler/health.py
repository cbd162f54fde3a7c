"""The workers' part of /healthz and /metrics: a worker beat recently (heartbeat rows)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from prometheus_client.core import GaugeMetricFamily, Metric
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from warroom.core.clock import as_utc
from warroom.core.hooks import Health
from warroom.core.state import AppState
from warroom.scheduler.models import WorkerHeartbeat


def check(state: AppState, health: Health) -> None:
    """Unavailable when workers have run here but none beat within `worker.stale_after`."""
    now = state.clock.now()
    with state.read_sessions() as session:
        seen = session.scalar(select(func.count()).select_from(WorkerHeartbeat)) or 0
        newest = session.scalar(select(func.max(WorkerHeartbeat.beat_at)).where(WorkerHeartbeat.stopped_at.is_(None)))
    if not seen and not state.worker_in_process:
        health.checks["worker"] = "none has run yet (start `warroom worker` or `warroom serve`)"
        health.warnings.append("no worker has ever run: notifications will not be sent")
        return
    newest = as_utc(newest) if newest is not None else None
    limit = state.policy.worker.stale_after
    if newest is None or now - newest > limit:
        age = "never" if newest is None else f"{int((now - newest).total_seconds())}s ago"
        health.checks["worker"] = f"stale: last heartbeat {age} (limit {int(limit.total_seconds())}s)"
        health.worsen("unavailable")
        return
    health.checks["worker"] = "ok"
    health.extra["worker_last_beat"] = newest.isoformat()


def gauges(s: Session, now: datetime) -> Iterator[Metric]:
    beats = GaugeMetricFamily(
        "warroom_worker_heartbeat_age_seconds",
        "Seconds since each running worker's last heartbeat (any node)",
        labels=["worker"],
    )
    for worker_id, at in s.execute(
        select(WorkerHeartbeat.worker_id, WorkerHeartbeat.beat_at)
        .where(WorkerHeartbeat.stopped_at.is_(None))
        .order_by(WorkerHeartbeat.worker_id)
    ):
        beats.add_metric([worker_id], max((now - as_utc(at)).total_seconds(), 0.0))
    yield beats
