"""What Slack already asked for: a retried command, a double click or a double submit is a duplicate."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from warroom.core.db import Base, UTCDateTime


class SlackRequest(Base):
    """One row per request Slack sent that changed something, written in the same transaction
    as the change: `key` is the trigger, `action_ts`, view id or event id (see slack.payloads)."""

    __tablename__ = "slack_requests"
    __table_args__ = (Index("ix_slack_requests_created", "created_at"),)

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    user_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
