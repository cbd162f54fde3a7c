"""The transactional outbox: a message exists once its cause has committed, never before."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from warroom.core.db import Base, JSONType, UTCDateTime


class Notification(Base):
    __tablename__ = "notifications"
    __table_args__ = (
        Index("ix_notifications_due", "state", "next_attempt_at"),
        Index("ix_notifications_incident_channel", "incident_id", "channel", "id"),
        # the claim's "oldest pending row of its incident and channel" test reads only pending rows
        Index(
            "ix_notifications_pending_order",
            "incident_id",
            "channel",
            "id",
            postgresql_where=text("state = 'pending'"),
            sqlite_where=text("state = 'pending'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(80), unique=True)
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    event: Mapped[str] = mapped_column(String(32))
    channel: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    state: Mapped[str] = mapped_column(String(16), default="pending")  # pending|sent|dead|obsolete
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claimed_by: Mapped[str | None] = mapped_column(String(80))
    last_error: Mapped[str | None] = mapped_column(Text)
    external_id: Mapped[str | None] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SlackThread(Base):
    """The first message of an incident in one channel: later messages reply under its `ts`."""

    __tablename__ = "slack_threads"
    __table_args__ = (UniqueConstraint("incident_id", "channel"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(64))  # policy channel name
    slack_channel: Mapped[str] = mapped_column(String(64))  # the id Slack answered with
    ts: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ChannelPace(Base):
    """When a paced channel may send next; locked by the claimer so workers share one pace."""

    __tablename__ = "channel_pace"

    channel: Mapped[str] = mapped_column(String(64), primary_key=True)
    next_at: Mapped[datetime] = mapped_column(UTCDateTime)


class SlackRoom(Base):
    """An incident's own Slack channel (policy `slack.incident_channels`): made once, archived on completion."""

    __tablename__ = "slack_rooms"

    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"), primary_key=True)
    name: Mapped[str] = mapped_column(String(80))
    slack_channel: Mapped[str | None] = mapped_column(String(64))  # the id Slack answered with, once made
    card_ts: Mapped[str | None] = mapped_column(String(32))  # the card posted there, edited like the thread's
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SlackMethodPause(Base):
    """A Slack Web API method answered 429: no worker calls it again before `until` (Slack's
    limits are per method and workspace); `hits` counts the 429s, for /metrics."""

    __tablename__ = "slack_method_pauses"

    method: Mapped[str] = mapped_column(String(64), primary_key=True)  # chat.update, chat.postMessage...
    until: Mapped[datetime] = mapped_column(UTCDateTime)
    hits: Mapped[int] = mapped_column(default=0)
