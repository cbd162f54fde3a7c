"""Datadog Incident Management, both ways: our incidents mirrored there, theirs taken in here."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from warroom.registry import Registry


def register(registry: Registry) -> None:
    from warroom.datadog import health, mirror, tracking

    tracking.install()
    registry.worker_tasks.append(mirror.worker_task)
    registry.health.append(health.check)
