"""Alerts in: webhook parsers, triage, grouping into incidents, the 15-minute rule, auto-resolve,
and the fast path that stores them (ingest/fastpath)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from warroom.registry import Registry


def register(registry: Registry) -> None:
    from warroom.ingest import cli, grouping, jobs, routes

    registry.add_router(routes.router)
    registry.add_cli(cli.commands)
    registry.add_job(grouping.ESCALATE, jobs.escalate)
    registry.add_job(grouping.AUTORESOLVE, jobs.autoresolve)
