"""Datadog Incident Management, both ways: our incidents mirrored there, theirs taken in here."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from warroom.registry import Registry


def register(registry: Registry) -> None:
    from warroom.core.hooks import RoomPanel
    from warroom.datadog import health, jobs, routes, tracking, views

    registry.process_setup.append(tracking.install)  # the app, workers, the CLI and the ingest writer run it
    registry.add_router(routes.router)
    registry.templates.append("warroom.datadog")
    registry.room_panels.append(RoomPanel(template="_datadog_panel.html", context=views.room_panel))
    registry.worker_tasks.append(jobs.worker_task)
    registry.health.append(health.check)
