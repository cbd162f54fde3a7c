"""Out-of-band deploy requests: the form, the platform checklist, approval and the OOB postmortem."""

from __future__ import annotations

from typing import TYPE_CHECKING

from warroom.core.hooks import RoomPanel

if TYPE_CHECKING:
    from warroom.registry import Registry


def register(registry: Registry) -> None:
    from warroom.deploys import cli, hooks, jobs, pages, routes, service

    registry.add_router(routes.router)
    registry.add_pages(pages.router, templates="warroom.deploys")
    registry.add_cli(cli.oob_app, "oob")
    registry.add_job(service.POSTMORTEM_DUE, jobs.postmortem_due)
    registry.postmortem_sections.append(hooks.postmortem_section)
    registry.room_panels.append(RoomPanel(template="_oob_panel.html", context=hooks.room_panel))
