"""A new alert's episode start (the 15-minute clock), for the fast path's batches: the sender's
start time bounded by the clock skew, or the start of the episode a re-fire continues."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from warroom.core.clock import as_utc
from warroom.ingest.parsers import Incoming
from warroom.policy.schema import Policy
from warroom.triage import rules

# (source, episode key) -> (the last recovered alert's resolved_at, its episode start)
Recovered = dict[tuple[str, str], tuple[datetime, datetime]]


def wanted(policy: Policy, items: list[Incoming]) -> dict[str, set[str]]:
    """The episode keys to look up per source: those of firing events (none without a flap window)."""
    out: dict[str, set[str]] = {}
    if policy.triage.flap_window:
        for item in items:
            if item.status == "firing":
                out.setdefault(item.source, set()).add(item.episode)
    return out


def recovered_from_rows(source: str, rows: list[Any]) -> Recovered:
    """Per episode key its last recovered alert, from `recent_episodes` driver rows."""
    out: Recovered = {}
    for row in rows:
        resolved, started = driver_time(row.resolved_at), driver_time(row.started_at or row.first_seen_at)
        key = (source, row.episode_key)
        if key not in out or out[key][0] < resolved:
            out[key] = (resolved, started)
    return out


def driver_time(value: Any) -> datetime:
    """A driver's timestamp (SQLite: naive UTC text) as an aware datetime."""
    return as_utc(datetime.fromisoformat(value) if isinstance(value, str) else value)


def start(policy: Policy, *, item: Incoming, now: datetime, recovered: Recovered) -> datetime:
    """When this new alert's episode started (a recovery's own row: now)."""
    if item.status != "firing":
        return now
    return rules.episode_start(
        policy,
        start=rules.alert_start(policy, sent=item.occurred_at, now=now),
        now=now,
        previous=recovered.get((item.source, item.episode)),
    )
