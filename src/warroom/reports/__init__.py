"""Monthly figures: MTTA, time to mitigate and resolve, cadence compliance; CSV, Markdown, SVG."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from warroom.registry import Registry


def register(registry: Registry) -> None:
    from warroom.reports import cli, pages, routes

    registry.add_router(routes.router)
    registry.add_pages(pages.router, templates="warroom.reports")
    registry.add_cli(cli.commands)
