"""Service status from open incidents and firing alerts (pure: no database, no web)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Final

LEVELS: Final = ("operational", "degraded", "outage")


def worst(statuses: Iterable[str]) -> str:
    """The most severe of `statuses` (operational when there are none)."""
    return max(statuses, key=LEVELS.index, default="operational")


def service_status(
    *,
    open_severities: Iterable[str],
    firing_alerts_without_incident: int,
    severity_status: Mapping[str, str],
    unmapped_severity: str,
    alert_status: str,
) -> str:
    """Worst of: each open incident's severity mapped by the policy, and the alert rule."""
    found = [severity_status.get(sev, unmapped_severity) for sev in open_severities]
    if firing_alerts_without_incident > 0:
        found.append(alert_status)
    return worst(found)
