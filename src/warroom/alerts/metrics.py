"""The alert gauge of /metrics: alerts firing now, by service and tier."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from prometheus_client.core import GaugeMetricFamily, Metric
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from warroom.alerts.models import Alert


def gauges(s: Session, now: datetime) -> Iterator[Metric]:
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
