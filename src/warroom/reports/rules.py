"""Report figures from incident facts (pure: no database, no web; hand-checkable)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final

GROUPS: Final = ("month", "priority", "service", "severity")
PRIORITY_ORDER: Final = ("P1", "P2", "P3", "P4")


@dataclass(frozen=True)
class IncidentFacts:
    """What one incident contributes; `start` is the first alert, else the declaration."""

    id: int
    declared_at: datetime
    priority: str
    severity: str
    services: tuple[str, ...]
    start: datetime
    acknowledged_at: datetime | None = None
    first_paged_at: datetime | None = None  # MTTA of a paged incident counts from its first page
    mitigated_at: datetime | None = None
    resolved_at: datetime | None = None
    updates: int = 0
    updates_on_time: int = 0
    missed_updates: int = 0
    alerts: int = 0
    oob_requests: int = 0
    oob_deploys: int = 0


@dataclass
class Row:
    key: str
    incidents: int = 0
    acknowledged: int = 0
    mitigated: int = 0
    resolved: int = 0
    mtta_seconds: float | None = None
    time_to_mitigate_seconds: float | None = None
    time_to_resolve_seconds: float | None = None
    updates: int = 0
    updates_on_time: int = 0
    late_updates: int = 0
    update_compliance: float | None = None
    missed_updates: int = 0
    alerts: int = 0
    alerts_per_incident: float | None = None
    oob_requests: int = 0
    oob_deploys: int = 0
    _ids: set[int] = field(default_factory=set, repr=False)


COLUMNS: Final = (
    "key",
    "incidents",
    "acknowledged",
    "mitigated",
    "resolved",
    "mtta_seconds",
    "time_to_mitigate_seconds",
    "time_to_resolve_seconds",
    "updates",
    "updates_on_time",
    "late_updates",
    "update_compliance",
    "missed_updates",
    "alerts",
    "alerts_per_incident",
    "oob_requests",
    "oob_deploys",
)


def keys_for(facts: IncidentFacts, group_by: str) -> list[str]:
    """An incident with two services counts once in each service's row."""
    if group_by == "month":
        return [facts.declared_at.astimezone(UTC).strftime("%Y-%m")]
    if group_by == "priority":
        return [facts.priority]
    if group_by == "severity":
        return [facts.severity]
    if group_by == "service":
        return list(dict.fromkeys(facts.services)) or ["none"]
    raise ValueError(f"group_by must be one of {', '.join(GROUPS)}")


def _mean(values: Sequence[float]) -> float | None:
    return round(sum(values) / len(values), 3) if values else None


def _since(start: datetime, end: datetime | None) -> float | None:
    return (end - start).total_seconds() if end is not None else None


def summarize_one(key: str, facts: Iterable[IncidentFacts]) -> Row:
    row = Row(key=key)
    ack: list[float] = []
    mit: list[float] = []
    res: list[float] = []
    for f in facts:
        row.incidents += 1
        paged_or_start = f.first_paged_at or f.start
        for bucket, begin, end in (
            (ack, paged_or_start, f.acknowledged_at),
            (mit, f.start, f.mitigated_at),
            (res, f.start, f.resolved_at),
        ):
            seconds = _since(begin, end)
            if seconds is not None:
                bucket.append(seconds)
        row.updates += f.updates
        row.updates_on_time += f.updates_on_time
        row.missed_updates += f.missed_updates
        row.alerts += f.alerts
        row.oob_requests += f.oob_requests
        row.oob_deploys += f.oob_deploys
    row.acknowledged, row.mitigated, row.resolved = len(ack), len(mit), len(res)
    row.mtta_seconds, row.time_to_mitigate_seconds, row.time_to_resolve_seconds = (_mean(ack), _mean(mit), _mean(res))
    row.late_updates = row.updates - row.updates_on_time
    row.update_compliance = round(row.updates_on_time / row.updates, 4) if row.updates else None
    row.alerts_per_incident = round(row.alerts / row.incidents, 3) if row.incidents else None
    return row


def _order(group_by: str, keys: Iterable[str], service_order: Sequence[str]) -> list[str]:
    keys = set(keys)
    if group_by == "priority":
        return sorted(keys, key=lambda k: (PRIORITY_ORDER.index(k) if k in PRIORITY_ORDER else 99, k))
    if group_by == "service":
        return sorted(keys, key=lambda k: (service_order.index(k) if k in service_order else 999, k))
    return sorted(keys)


def summarize(
    facts: Sequence[IncidentFacts], group_by: str, service_order: Sequence[str] = ()
) -> tuple[list[Row], Row]:
    """Rows per group (ordered) and the total over all incidents."""
    groups: dict[str, list[IncidentFacts]] = {}
    for f in facts:
        for key in keys_for(f, group_by):
            groups.setdefault(key, []).append(f)
    rows = [summarize_one(k, groups[k]) for k in _order(group_by, groups, service_order)]
    return rows, summarize_one("total", facts)


def as_dict(row: Row) -> dict[str, object]:
    return {name: getattr(row, name) for name in COLUMNS}
