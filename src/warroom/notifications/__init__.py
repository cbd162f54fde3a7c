"""The outbox: rows written with the change that caused them, delivered by workers to each channel.

It knows incident ids and payloads, never another domain's code."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from warroom.registry import Registry


def register(registry: Registry) -> None:
    from warroom.notifications import cli, health, metrics, pages, routes

    registry.add_router(routes.router)
    registry.add_pages(pages.router, templates="warroom.notifications")
    registry.add_cli(cli.notifications_app, "notifications")
    registry.health.append(health.check)
    registry.metrics.append(metrics.gauges)
