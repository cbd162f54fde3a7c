"""API shapes of the mirror."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class MirrorOut(BaseModel):
    incident: str
    datadog_id: str | None
    datadog_public_id: int | None
    datadog_url: str | None
    state: str = Field(description="pending | linked | dead (Datadog refused it) | deleted (deleted in Datadog)")
    origin: str
    in_sync: bool
    last_error: str | None
    synced_at: datetime | None


class StatusOut(BaseModel):
    enabled: bool
    paused: str | None = Field(None, description="Why the mirror is paused (Datadog refused the keys), else null")
    paused_since: str | None = None
    waiting: int = 0
    retrying: int = 0
    dead: int = 0
    deleted: int = 0
    problems: list[dict[str, Any]] = []
