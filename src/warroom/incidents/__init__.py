"""Incidents: declaration, state, priority and severity, roles, timeline, status updates on a
cadence, update drafts, cadence compliance and the postmortem."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from warroom.registry import Registry


def register(registry: Registry) -> None:
    from warroom.incidents import cadence, cli, command, compliance, escalation, jobs, metrics, pages, routes, slack

    registry.add_router(routes.router)
    registry.add_pages(pages.router, templates="warroom.incidents")
    registry.add_cli(cli.incident_app, "incident")
    registry.add_job(cadence.CADENCE_REMIND, jobs.remind, batch_lock=cadence.lock_incidents)
    registry.add_job(cadence.CADENCE_DUE, jobs.due, batch_lock=cadence.lock_incidents)
    registry.add_job(escalation.ESCALATE, escalation.step, batch_lock=cadence.lock_incidents)
    registry.postmortem_sections.append(compliance.postmortem_section)
    registry.metrics.append(metrics.gauges)
    registry.deactivation.append(command.on_deactivate)
    slack.register(registry.slack)
