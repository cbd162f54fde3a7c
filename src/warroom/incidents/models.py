"""Incidents, their services, timeline, status updates and postmortem versions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from warroom.core.db import Base, JSONType, UTCDateTime


class Incident(Base):
    __tablename__ = "incidents"
    __table_args__ = (
        Index("ix_incidents_state_priority", "state", "priority"),
        Index("ix_incidents_declared_at", "declared_at"),
        Index("ix_incidents_next_update_due_at", "next_update_due_at"),
        Index("ix_incidents_state_declared_at", "state", "declared_at"),  # web list: state + date filters
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(500))
    state: Mapped[str] = mapped_column(String(16), default="active")
    priority: Mapped[str] = mapped_column(String(4))
    severity: Mapped[str] = mapped_column(String(8))
    commander: Mapped[str] = mapped_column(String(64))
    declared_by: Mapped[str] = mapped_column(String(64))
    roles: Mapped[dict[str, str]] = mapped_column(JSONType, default=dict)
    monitors: Mapped[list[str]] = mapped_column(JSONType, default=list)
    teams: Mapped[list[str]] = mapped_column(JSONType, default=list)
    controller: Mapped[str | None] = mapped_column(String(500))
    acknowledged_by_team: Mapped[bool] = mapped_column(default=False)
    tracking_issue: Mapped[str | None] = mapped_column(String(1000))
    sub_services: Mapped[str | None] = mapped_column(Text)
    users_impacted: Mapped[int | None] = mapped_column(Integer)
    impacts: Mapped[str | None] = mapped_column(Text)
    detection_method: Mapped[str | None] = mapped_column(String(200))
    pending_tasks: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    declared_automatically: Mapped[bool] = mapped_column(default=False)
    # The tier of the alerts it groups (their environment's): only alerts of this tier join, hold
    # open or reopen it. NULL: declared by a person, taken as production (the lowest tier number).
    tier: Mapped[int | None] = mapped_column(Integer)
    first_alert_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    declared_at: Mapped[datetime] = mapped_column(UTCDateTime)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    stable_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_update_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    next_update_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    missed_updates: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # the same incident in Datadog Incident Management (warroom.datadog keeps both in step)
    datadog_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    datadog_public_id: Mapped[int | None] = mapped_column(Integer)

    service_links: Mapped[list[IncidentService]] = relationship(
        back_populates="incident",
        cascade="all, delete-orphan",
        lazy="selectin",
        order_by="IncidentService.position",
    )

    @property
    def ref(self) -> str:
        return f"INC-{self.id}"

    @property
    def services(self) -> list[str]:
        return [link.service for link in self.service_links]


class IncidentService(Base):
    """One row per affected service, so lists filter by service with an index."""

    __tablename__ = "incident_services"
    __table_args__ = (Index("ix_incident_services_service", "service", "incident_id"),)

    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"), primary_key=True)
    service: Mapped[str] = mapped_column(String(64), primary_key=True)
    position: Mapped[int] = mapped_column(default=0)
    incident: Mapped[Incident] = relationship(back_populates="service_links")


class TimelineEntry(Base):
    """`occurred_at` is when it happened (may be back-dated); `recorded_at` is when we learned it."""

    __tablename__ = "timeline_entries"
    __table_args__ = (Index("ix_timeline_incident_occurred", "incident_id", "occurred_at", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    kind: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    via: Mapped[str | None] = mapped_column(String(8), default=None)  # api, web, cli, slack, system


class StatusUpdate(Base):
    __tablename__ = "status_updates"
    __table_args__ = (Index("ix_status_updates_incident", "incident_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    message: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16))
    priority: Mapped[str] = mapped_column(String(4))
    severity: Mapped[str] = mapped_column(String(8))
    actor: Mapped[str] = mapped_column(String(64))
    automatic: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    on_time: Mapped[bool] = mapped_column(default=True)


# Postmortems are versioned so regenerating never discards a human edit.
class PostmortemVersion(Base):
    __tablename__ = "postmortem_versions"
    __table_args__ = (UniqueConstraint("incident_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    version: Mapped[int]
    source: Mapped[str] = mapped_column(String(16))  # generated | edited
    author: Mapped[str] = mapped_column(String(64))
    markdown: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class EscalationPage(Base):
    """One level of an incident's escalation that was paged: whom, when, and whether they acknowledged.
    Unique per (incident, level), so a level is never paged twice, whichever node runs the step."""

    __tablename__ = "incident_pages"
    __table_args__ = (
        UniqueConstraint("incident_id", "level"),
        Index("ix_incident_pages_paged_at", "paged_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    escalation_policy: Mapped[str] = mapped_column(String(64))
    level: Mapped[int] = mapped_column()
    users: Mapped[list[str]] = mapped_column(JSONType, default=list)  # handles paged (empty: nobody on call)
    schedule: Mapped[str | None] = mapped_column(String(64))
    paged_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ack_due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    acknowledged_by: Mapped[str | None] = mapped_column(String(64))
