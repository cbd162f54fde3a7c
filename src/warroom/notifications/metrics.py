"""The outbox gauges of /metrics: rows by channel and state, the oldest undelivered one, and the
Slack methods resting after a 429 (read from the database: the same on every API node)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from warroom.notifications import pauses
from warroom.notifications.models import Notification
from warroom.notifications.service import failing_channels


def gauges(s: Session, now: datetime) -> Iterator[Metric]:
    notes = GaugeMetricFamily("warroom_notifications", "Outbox rows by channel and state", labels=["channel", "state"])
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
        value=max((now - oldest).total_seconds(), 0.0) if oldest else 0.0,
    )
    failing = GaugeMetricFamily(
        "warroom_notification_channel_failing",
        "1 while a channel has messages in retry after a failed attempt (or dead ones), by channel",
        labels=["channel"],
    )
    retrying = GaugeMetricFamily(
        "warroom_notification_channel_retrying",
        "Messages in retry after a failed attempt, by channel",
        labels=["channel"],
    )
    for trouble in failing_channels(s):
        failing.add_metric([trouble.channel], 1.0)
        retrying.add_metric([trouble.channel], float(trouble.retrying))
    yield failing
    yield retrying
    rest = GaugeMetricFamily(
        "warroom_slack_method_paused_seconds",
        "Seconds until a Slack Web API method that answered 429 may be called again (0 once free), by method",
        labels=["method"],
    )
    limited = CounterMetricFamily(
        "warroom_slack_rate_limited",
        "Slack Web API calls of the outbox answered 429 (rate limited), by method, all workers",
        labels=["method"],
    )
    for method, seconds, hits in pauses.resting(s, now):
        rest.add_metric([method], seconds)
        limited.add_metric([method], float(hits))
    yield rest
    yield limited
