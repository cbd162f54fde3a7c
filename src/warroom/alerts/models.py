"""Alerts as received: one row per alert cycle, every delivery kept as an event."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from warroom.core.db import Base, JSONType, UTCDateTime


class Alert(Base):
    """`open_key` equals `dedup_key` while firing and is NULL once resolved, so the unique
    constraint allows one open alert per key while a later trigger opens a new alert; its
    (dedup_key, source) prefix also finds a key's earlier alerts (one index: one random page write
    per new alert)."""

    __tablename__ = "alerts"
    __table_args__ = (
        UniqueConstraint("dedup_key", "source", "open_key"),
        Index("ix_alerts_status_service", "status", "service"),
        # The alert list's order (first_seen_at desc, id desc), alone and under its common filters:
        # a page is an index range instead of a sort of the table (SQLite sorted all of it per page).
        Index("ix_alerts_first_seen", "first_seen_at", "id"),
        Index("ix_alerts_incident_first_seen", "incident_id", "first_seen_at", "id"),  # also the FK index
        Index("ix_alerts_status_first_seen", "status", "first_seen_at", "id"),
        # Firing and unlinked (the dashboard, ?unlinked=true), and an incident's firing alerts.
        Index("ix_alerts_status_incident_first_seen", "status", "incident_id", "first_seen_at", "id"),
        # A key's previous episode (flapping), for keys whose dedup key changes per cycle (Datadog).
        Index("ix_alerts_episode", "episode_key", "source"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(32))  # datadog|alertmanager|grafana|events
    dedup_key: Mapped[str] = mapped_column(String(255))
    open_key: Mapped[str | None] = mapped_column(String(255))
    service: Mapped[str] = mapped_column(String(64))
    mapped: Mapped[bool] = mapped_column(default=True)
    environment: Mapped[str | None] = mapped_column(String(64))
    tier: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(1024))
    status: Mapped[str] = mapped_column(String(16))  # firing | resolved
    transition: Mapped[str | None] = mapped_column(String(32))
    priority: Mapped[str] = mapped_column(String(4))
    priority_rule: Mapped[str] = mapped_column(String(64))
    priority_reason: Mapped[str] = mapped_column(String(500))
    priority_hint: Mapped[str | None] = mapped_column(String(8))
    users_hint: Mapped[int | None] = mapped_column(Integer)
    labels: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    link: Mapped[str | None] = mapped_column(String(2000))
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When the episode started: the sender's start time (bounded by triage.clock_skew), or the
    # start of the previous alert of the same episode key when this one re-fired within the flap
    # window. The 15-minute rule counts from here. NULL on rows stored before 0017: first_seen_at.
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    episode_key: Mapped[str | None] = mapped_column(String(255))
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id", ondelete="SET NULL"))
    event_count: Mapped[int] = mapped_column(default=0)


class AlertEvent(Base):
    """Every delivery with its raw payload; `event_key` (the alert id in hex, then a hash of the
    content) makes a re-delivery a no-op and keeps a new alert's events at the end of its index."""

    __tablename__ = "alert_events"
    __table_args__ = (
        UniqueConstraint("event_key"),
        Index("ix_alert_events_alert", "alert_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"))
    event_key: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    transition: Mapped[str | None] = mapped_column(String(32))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    occurred_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    raw: Mapped[str] = mapped_column(Text)
