"""The mirror's state per incident (a latest-state outbox row), the user cache, the pause and inbound deliveries."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from warroom.core.db import Base, JSONType, UTCDateTime


class DatadogMirror(Base):
    """One row per incident: `version` moves with every change of ours (written in the change's own
    transaction), `synced_version` once Datadog holds that state; a worker sends only the latest."""

    __tablename__ = "datadog_mirror"
    __table_args__ = (
        # the claim reads only dirty rows: a partial index keeps each worker pass small however many incidents
        Index(
            "ix_datadog_mirror_dirty",
            "incident_id",
            postgresql_where=text("version > synced_version"),
            sqlite_where=text("version > synced_version"),
        ),
    )

    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"), primary_key=True)
    state: Mapped[str] = mapped_column(String(16), default="pending")  # pending|linked|dead|deleted
    origin: Mapped[str] = mapped_column(String(16), default="warroom")  # warroom | datadog (declared there)
    version: Mapped[int] = mapped_column(default=1)
    synced_version: Mapped[int] = mapped_column(default=0)
    noticed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # first seen dirty (coalescing window)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claimed_by: Mapped[str | None] = mapped_column(String(80))
    attempts: Mapped[int] = mapped_column(default=0)
    failing_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    create_attempts: Mapped[int] = mapped_column(default=0)  # > 0: a create may have reached Datadog
    marker: Mapped[str | None] = mapped_column(String(80))
    last_error: Mapped[str | None] = mapped_column(Text)
    sent: Mapped[list[str]] = mapped_column(JSONType, default=list)  # fingerprints of recent states sent
    todos: Mapped[list[str]] = mapped_column(JSONType, default=list)  # pending task titles made todos
    postmortem_attached: Mapped[bool] = mapped_column(default=False)
    synced_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class DatadogUser(Base):
    """Commander email -> Datadog user id, so each person is looked up once."""

    __tablename__ = "datadog_users"

    email: Mapped[str] = mapped_column(String(320), primary_key=True)
    user_id: Mapped[str | None] = mapped_column(String(64))  # None: no such user in Datadog
    fetched_at: Mapped[datetime] = mapped_column(UTCDateTime)


class DatadogPause(Base):
    """Set while Datadog refuses our keys (401/403): the whole mirror waits, /healthz says why."""

    __tablename__ = "datadog_pause"

    id: Mapped[int] = mapped_column(primary_key=True)
    keys: Mapped[str] = mapped_column(String(64))  # digest of the keys refused: new keys resume at once
    reason: Mapped[str] = mapped_column(Text)
    since: Mapped[datetime] = mapped_column(UTCDateTime)
    retry_at: Mapped[datetime] = mapped_column(UTCDateTime)


class DatadogDelivery(Base):
    """An inbound notification already applied (by body digest): Datadog's re-deliveries are duplicates."""

    __tablename__ = "datadog_deliveries"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    datadog_id: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(32))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    detail: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
