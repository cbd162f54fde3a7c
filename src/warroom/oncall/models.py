"""Overrides people enter at run time, and the last answer of each external calendar."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from warroom.core.db import Base, JSONType, UTCDateTime


class OncallOverride(Base):
    """`user` covers `schedule` in [starts_at, ends_at), whoever the schedule says; overrides of one
    schedule never overlap (the service refuses it)."""

    __tablename__ = "oncall_overrides"
    __table_args__ = (Index("ix_oncall_overrides_schedule", "schedule", "starts_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    schedule: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")  # as entered, to show it back
    note: Mapped[str] = mapped_column(String(500), default="")
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class OncallSourceCache(Base):
    """One row per external schedule: the shifts of its last good answer, and how the last try went
    (a source that is down keeps its last answer; `next_at` is also the claim of the node fetching)."""

    __tablename__ = "oncall_source_cache"

    schedule: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # ical | pagerduty
    fingerprint: Mapped[str] = mapped_column(String(64))  # of the source's settings: a new URL starts afresh
    shifts: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    fetched_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # last good answer
    checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # last try
    next_at: Mapped[datetime] = mapped_column(UTCDateTime)
    error: Mapped[str | None] = mapped_column(String(1000))
    failures: Mapped[int] = mapped_column(default=0)
