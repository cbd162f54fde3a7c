"""The public status contract: only what a sign-in banner may show, nothing internal."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel

Level = Literal["operational", "degraded", "outage"]


class PublicIncident(BaseModel):
    title: str
    status: Level
    since: datetime
    last_update_at: datetime


class ServiceStatusOut(BaseModel):
    service: str
    name: str
    status: Level
    incidents: list[PublicIncident]
    updated_at: datetime | None


class StatusOut(BaseModel):
    status: Level
    generated_at: datetime
    services: list[ServiceStatusOut]
