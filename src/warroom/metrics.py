"""Prometheus metrics: process-wide counters other modules increment, and gauges read from the
database at scrape time (so every API node reports the same cluster-wide figures)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Histogram, ProcessCollector
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from warroom.clock import as_utc
from warroom.incidents.models import Incident
from warroom.incidents.states import OPEN_STATES
from warroom.ingest.models import Alert
from warroom.notifications.models import Notification, WorkerHeartbeat
from warroom.policy.schema import PRIORITIES

REGISTRY = CollectorRegistry(auto_describe=True)
ProcessCollector(registry=REGISTRY)

# Counted by the API process that answered: outcome created | updated | resolved | duplicate
# per alert, or bad_request | unauthorized | forbidden | rate_limited per refused delivery.
ALERTS_RECEIVED = Counter(
    "warroom_alerts_received",
    "Alert deliveries received, by source and outcome",
    ["source", "outcome"],
    registry=REGISTRY,
)
# Observed by the process that delivers (the worker inside `serve`, or `warroom worker
# --metrics-port`): seconds from the outbox row's created_at to its successful delivery.
NOTIFICATION_LATENCY = Histogram(
    "warroom_notification_delivery_seconds",
    "Seconds from enqueue to delivery, by channel",
    ["channel"],
    registry=REGISTRY,
    buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800),
)
# Observed by the API process's group-commit writer: deliveries per transaction (bigger batches
# mean the writer is busy: each then costs less) and seconds a batch took to run and commit.
INGEST_BATCH_SIZE = Histogram(
    "warroom_ingest_batch_deliveries",
    "Webhook deliveries stored per transaction",
    registry=REGISTRY,
    buckets=(1, 2, 4, 8, 16, 32, 64),
)
INGEST_BATCH_SECONDS = Histogram(
    "warroom_ingest_batch_seconds",
    "Seconds a webhook batch took to store and commit",
    registry=REGISTRY,
    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1),
)


class DatabaseCollector(Collector):
    """Gauges computed from the database for one scrape."""

    def __init__(self, session: Session, now: datetime) -> None:
        self.session = session
        self.now = now

    def collect(self) -> Iterator[Metric]:
        s = self.session
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
                .where(Incident.state.in_(OPEN_STATES), Incident.next_update_due_at < self.now)
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

        notes = GaugeMetricFamily(
            "warroom_notifications", "Outbox rows by channel and state", labels=["channel", "state"]
        )
        for channel, state, n in s.execute(
            select(Notification.channel, Notification.state, func.count()).group_by(
                Notification.channel, Notification.state
            )
        ):
            notes.add_metric([channel, state], int(n))
        yield notes
        oldest = s.scalar(select(func.min(Notification.created_at)).where(Notification.state == "pending"))
        yield GaugeMetricFamily(
            "warroom_notifications_oldest_pending_age_seconds",
            "Age of the oldest undelivered notification (0 when none)",
            value=max((self.now - oldest).total_seconds(), 0.0) if oldest else 0.0,
        )

        firing = GaugeMetricFamily(
            "warroom_alerts_firing", "Alerts firing now, by service and tier", labels=["service", "tier"]
        )
        for service, tier, n in s.execute(
            select(Alert.service, Alert.tier, func.count())
            .where(Alert.status == "firing")
            .group_by(Alert.service, Alert.tier)
        ):
            firing.add_metric([service, str(tier)], int(n))
        yield firing

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
            beats.add_metric([worker_id], max((self.now - as_utc(at)).total_seconds(), 0.0))
        yield beats


def exposition(session: Session, *, now: datetime) -> bytes:
    """The text exposition format: process counters plus this scrape's database gauges."""
    from prometheus_client import generate_latest

    scrape = CollectorRegistry(auto_describe=False)
    scrape.register(DatabaseCollector(session, now))
    return generate_latest(REGISTRY) + generate_latest(scrape)
