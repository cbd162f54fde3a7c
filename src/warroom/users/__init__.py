"""People, their roles, API and ingest tokens, and web sessions."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from warroom.registry import Registry


def register(registry: Registry) -> None:
    from warroom.users import cli, pages, routes

    registry.add_router(routes.router)
    registry.add_pages(pages.router, templates="warroom.users")
    registry.add_cli(cli.user_app, "user")
    registry.add_cli(cli.token_app, "token")
