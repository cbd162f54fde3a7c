"""Service status from open incidents and firing alerts (pure: no database, no web)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Final

LEVELS: Final = ("operational", "degraded", "outage")


def worst(statuses: Iterable[str]) -> str:
    """The most severe of `statuses` (operational when there are none)."""
    return max(statuses, key=LEVELS.index, default="operational")


def incident_status(
    *,
    severity: str,
    state: str,
    severity_status: Mapping[str, str],
    stable_severity_status: Mapping[str, str],
    unmapped_severity: str,
) -> str:
    """An open incident's public status: by severity, and for a stable (mitigated) one, its own mapping first."""
    if state == "stable" and severity in stable_severity_status:
        return stable_severity_status[severity]
    return severity_status.get(severity, unmapped_severity)


def service_status(
    *,
    incident_statuses: Iterable[str],
    firing_alerts_without_incident: int,
    alert_status: str,
) -> str:
    """Worst of: each open incident's status (incident_status), and the alert rule."""
    found = list(incident_statuses)
    if firing_alerts_without_incident > 0:
        found.append(alert_status)
    return worst(found)
