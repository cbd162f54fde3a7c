"""Policy: the team's process as a validated YAML file."""

from __future__ import annotations

from typing import TYPE_CHECKING

from warroom.policy.loader import PolicyError, load_policy, parse_policy, reference_policy
from warroom.policy.schema import Policy

if TYPE_CHECKING:
    from warroom.registry import Registry

__all__ = ["Policy", "PolicyError", "load_policy", "parse_policy", "reference_policy", "register"]


def register(registry: Registry) -> None:
    from warroom.policy import cli, pages, routes

    registry.add_router(routes.router)
    registry.add_pages(pages.router, templates="warroom.policy")
    registry.add_cli(cli.policy_app, "policy")
