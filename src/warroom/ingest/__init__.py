"""Alerts in: webhook parsers, triage, grouping into incidents, the 15-minute rule, auto-resolve,
and the fast path that stores them (ingest/fastpath)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from warroom.core.hooks import RoomPanel

if TYPE_CHECKING:
    from warroom.registry import Registry


def register(registry: Registry) -> None:
    from warroom.ingest import cli, grouping, jobs, routes, service

    registry.add_router(routes.router)
    if "warroom.ingest" not in registry.templates:  # the room panel's template (ingest has no pages)
        registry.templates.append("warroom.ingest")
    registry.room_panels.append(RoomPanel(template="_related_alerts_panel.html", context=service.related_alerts))
    registry.add_cli(cli.commands)
    registry.add_job(grouping.ESCALATE, jobs.escalate)
    registry.add_job(grouping.AUTORESOLVE, jobs.autoresolve)
