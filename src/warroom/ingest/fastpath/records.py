"""The rows a batch writes for each alert and event, built in plain Python (no statement per row)."""

from __future__ import annotations

import hashlib
from datetime import datetime
from json.encoder import encode_basestring_ascii  # type: ignore[attr-defined]
from typing import Any

from warroom.ingest.parsers import Incoming
from warroom.ingest.service import Triaged


def alert_row(item: Incoming, t: Triaged, now: datetime, started: datetime) -> dict[str, Any]:
    firing = item.status == "firing"
    return dict(
        source=item.source,
        dedup_key=item.dedup_key,
        open_key=item.dedup_key if firing else None,
        service=t.service,
        mapped=t.mapped,
        environment=t.environment,
        tier=t.tier,
        title=item.title,
        status="firing" if firing else "resolved",
        transition=item.transition,
        priority=t.priority.value,
        priority_rule=t.priority.rule,
        priority_reason=t.priority.reason[:500],
        priority_hint=item.priority_hint,
        users_hint=t.users,
        labels=item.labels,
        link=(item.link or None) and item.link[:2000],
        first_seen_at=now,
        last_seen_at=now,
        resolved_at=None if firing else now,
        started_at=started,
        episode_key=item.episode,
        incident_id=None,
        event_count=1,
    )


def event_key(alert_id: int, item: Incoming) -> str:
    """The alert id first (12 hex digits): a new alert's events append to the unique index."""
    return f"{alert_id:012x}" + hashlib.sha256(f"{alert_id}\n{item.content_hash()}".encode()).hexdigest()[:52]


def due_payload(dedup_key: str) -> str:
    """json.dumps({"dedup_key": key}) without building an encoder for each alert."""
    return '{"dedup_key": ' + encode_basestring_ascii(dedup_key) + "}"
