"""Prometheus metrics: process-wide counters other modules increment, and gauges read from the
database at scrape time (so every API node reports the same cluster-wide figures)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Histogram, ProcessCollector
from prometheus_client.core import Metric
from prometheus_client.registry import Collector
from sqlalchemy.orm import Session

from warroom.core.hooks import MetricsSource

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

# Counted by the process that called Slack from a request (views.open, response_url) or that
# answered /slack/events: `outcome` ok | refused | duplicate | unsigned, `error` Slack's code.
SLACK_REQUESTS = Counter(
    "warroom_slack_requests",
    "Requests Slack sent to /slack/events, by kind and outcome",
    ["kind", "outcome"],
    registry=REGISTRY,
)
SLACK_API_ERRORS = Counter(
    "warroom_slack_api_errors",
    "Slack Web API calls made while answering Slack that failed, by method and error",
    ["method", "error"],
    registry=REGISTRY,
)


class _Scrape(Collector):
    """Each domain's gauges (core.hooks.MetricsSource), computed from the database for one scrape."""

    def __init__(self, session: Session, now: datetime, sources: Iterable[MetricsSource]) -> None:
        self.session, self.now, self.sources = session, now, tuple(sources)

    def collect(self) -> Iterator[Metric]:
        for source in self.sources:
            yield from source(self.session, self.now)


def exposition(session: Session, *, now: datetime, sources: Iterable[MetricsSource]) -> bytes:
    """The text exposition format: process counters plus this scrape's database gauges."""
    from prometheus_client import generate_latest

    scrape = CollectorRegistry(auto_describe=False)
    scrape.register(_Scrape(session, now, sources))
    return generate_latest(REGISTRY) + generate_latest(scrape)
