"""The incident gauges of /metrics: open incidents, overdue and missed status updates."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from prometheus_client.core import GaugeMetricFamily, Metric
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from warroom.incidents.models import Incident
from warroom.incidents.states import OPEN_STATES
from warroom.policy.schema import PRIORITIES


def gauges(s: Session, now: datetime) -> Iterator[Metric]:
    open_g = GaugeMetricFamily(
        "warroom_incidents_open", "Open incidents by priority and state", labels=["priority", "state"]
    )
    counts = {(p, st): 0 for p in PRIORITIES for st in sorted(OPEN_STATES)}
    for priority, state, n in s.execute(
        select(Incident.priority, Incident.state, func.count())
        .where(Incident.state.in_(OPEN_STATES))
        .group_by(Incident.priority, Incident.state)
    ):
        counts[(priority, state)] = int(n)
    for (priority, state), n in sorted(counts.items()):
        open_g.add_metric([priority, state], n)
    yield open_g
    overdue = (
        s.scalar(
            select(func.count())
            .select_from(Incident)
            .where(Incident.state.in_(OPEN_STATES), Incident.next_update_due_at < now)
        )
        or 0
    )
    yield GaugeMetricFamily(
        "warroom_status_updates_overdue", "Open incidents whose next status update is overdue", value=overdue
    )
    missed = (
        s.scalar(select(func.coalesce(func.sum(Incident.missed_updates), 0)).where(Incident.state.in_(OPEN_STATES)))
        or 0
    )
    yield GaugeMetricFamily(
        "warroom_status_updates_missed", "Missed status updates on open incidents", value=int(missed)
    )
