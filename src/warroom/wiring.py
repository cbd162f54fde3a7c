"""The one list of domains: `serve`, `worker`, the CLI and the ingest writer process all build from it.

Order matters where it shows: routers are matched in this order, templates searched in it, job
kinds and hooks (postmortem sections, incident room panels, health, metrics) listed in it.
"""

from __future__ import annotations

from collections.abc import Callable

from warroom import (
    alerts,
    audit,
    datadog,
    deploys,
    incidents,
    ingest,
    notifications,
    oncall,
    policy,
    reports,
    scheduler,
    slack,
    status,
    users,
)
from warroom.registry import Registry

DOMAINS: tuple[Callable[[Registry], None], ...] = (
    users.register,
    oncall.register,
    policy.register,
    audit.register,
    scheduler.register,
    notifications.register,
    alerts.register,
    incidents.register,
    deploys.register,
    ingest.register,
    datadog.register,
    reports.register,
    status.register,
    slack.register,  # the Slack entry point: after every domain whose commands and buttons it serves
)


def build_registry() -> Registry:
    registry = Registry()
    for register in DOMAINS:
        register(registry)
    return registry
