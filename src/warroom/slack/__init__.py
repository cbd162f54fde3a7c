"""Slack as an entry point (like api/, web/, cli/): one signed request URL for commands, buttons,
modals and events; it verifies, parses, deduplicates, maps the user and dispatches to the domains'
`slack.py` adapters, which run their use cases through the one unit of work (channel `slack`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from warroom.registry import Registry


def register(registry: Registry) -> None:
    """Last in the wiring: the one request URL dispatches to what the domains registered before."""
    from warroom.slack import cli, entry, prune

    registry.add_router(entry.build_router(registry.slack))
    registry.add_cli(cli.slack_app, "slack")
    registry.worker_tasks.append(prune.worker_task)
