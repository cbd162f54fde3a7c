"""The public service status (for outage banners): JSON, and a page."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from warroom.registry import Registry


def register(registry: Registry) -> None:
    from warroom.status import routes

    registry.add_router(routes.router)
