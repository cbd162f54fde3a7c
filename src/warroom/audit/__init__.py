"""Reading the audit log (the rows themselves are written by core.uow, in each change's transaction)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from warroom.registry import Registry


def register(registry: Registry) -> None:
    from warroom.audit import routes

    registry.add_router(routes.router)
