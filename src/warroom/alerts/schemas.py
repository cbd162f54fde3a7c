"""The alert JSON contract (/api/v1/alerts, ingest answers)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class AlertOut(BaseModel):
    id: int
    source: str
    dedup_key: str
    service: str
    mapped: bool
    environment: str | None
    tier: int
    title: str
    status: str
    transition: str | None
    priority: str
    priority_rule: str
    priority_reason: str
    priority_hint: str | None
    users_per_hour: int | None
    labels: dict[str, Any]
    link: str | None
    first_seen_at: datetime
    last_seen_at: datetime
    resolved_at: datetime | None
    incident: str | None
    event_count: int


class AlertEventOut(BaseModel):
    id: int
    status: str
    transition: str | None
    received_at: datetime
    occurred_at: datetime | None
    raw: Any


class AlertDetail(AlertOut):
    events: list[AlertEventOut] = Field(
        description=("The newest `events_limit` events (50 unless asked) older than `events_before`, oldest first")
    )
    events_total: int = Field(description="Every event stored for this alert")
    events_next_before: int | None = Field(
        description=("Pass as `events_before` for the next older page; null when this page holds the oldest event")
    )


class AlertPage(BaseModel):
    items: list[AlertOut]
    total: int
    page: int
    per_page: int
