"""The alert JSON contract (/api/v1/alerts, ingest answers)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

from pydantic import AliasChoices, BaseModel, BeforeValidator, ConfigDict, Field


def _ref(value: Any) -> Any:
    """An incident id as its ref (INC-n)."""
    return f"INC-{value}" if isinstance(value, int) else value


def _parsed(value: Any) -> Any:
    """A raw body as stored (text) is shown as the JSON it holds, else as text."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


IncidentRef = Annotated[str | None, BeforeValidator(_ref)]


class AlertOut(BaseModel):
    """Read from the ORM row (from_attributes)."""

    model_config = ConfigDict(from_attributes=True, validate_by_name=True)

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
    users_per_hour: int | None = Field(validation_alias=AliasChoices("users_hint", "users_per_hour"))
    labels: Annotated[dict[str, Any], BeforeValidator(lambda v: v or {})]
    link: str | None
    first_seen_at: datetime
    last_seen_at: datetime
    resolved_at: datetime | None
    incident: IncidentRef = Field(validation_alias=AliasChoices("incident_id", "incident"))
    event_count: int
    started_at: datetime | None = Field(
        default=None,
        description="When its episode started (the sender's start time, or its flapping episode's): "
        "the 15-minute rule counts from here",
    )


class AlertBrief(BaseModel):
    """The few fields the incident JSON lists per alert."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    source: str
    service: str
    title: str
    status: str
    priority: str
    priority_rule: str
    environment: str | None
    tier: int
    link: str | None
    first_seen_at: datetime
    resolved_at: datetime | None


class AlertEventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    status: str
    transition: str | None
    received_at: datetime
    occurred_at: datetime | None
    raw: Annotated[Any, BeforeValidator(_parsed)]


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
