"""The durable scheduler: every timed rule is a due-time row a worker claims and runs."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from warroom.registry import Registry


def register(registry: Registry) -> None:
    from warroom.scheduler import health

    registry.health.append(health.check)
    registry.metrics.append(health.gauges)
