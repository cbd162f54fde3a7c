"""Stored alerts and their events: what the monitors said (the ingest domain writes them)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from warroom.registry import Registry


def register(registry: Registry) -> None:
    from warroom.alerts import metrics, pages, routes

    registry.add_router(routes.router)
    registry.add_pages(pages.router, templates="warroom.alerts")
    registry.metrics.append(metrics.gauges)
