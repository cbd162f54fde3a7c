"""The outbox JSON shape, shared by the API and the CLI (read from the row: from_attributes)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, computed_field


class NotificationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    idempotency_key: str
    incident_id: int | None
    event: str
    channel: str
    state: str
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    external_id: str | None
    created_at: datetime
    sent_at: datetime | None
    text: str

    @computed_field  # type: ignore[prop-decorator]
    @property
    def incident(self) -> str | None:
        return f"INC-{self.incident_id}" if self.incident_id else None
