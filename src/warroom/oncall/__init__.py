"""Who is on call: schedules (rotations, layers, restrictions; iCal; PagerDuty) and overrides."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from warroom.registry import Registry


def register(registry: Registry) -> None:
    from warroom.oncall import cli, health, pages, refresh, routes

    registry.add_router(routes.router)
    registry.add_pages(pages.router, templates="warroom.oncall")
    registry.add_cli(cli.oncall_app, "oncall")
    registry.health.append(health.check)
    registry.metrics.append(health.gauges)
    registry.worker_tasks.append(refresh.worker_task)
