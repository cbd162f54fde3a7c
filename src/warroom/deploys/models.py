"""Out-of-band deploy requests attached to an incident."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from warroom.core.db import Base, JSONType, UTCDateTime


class OobRequest(Base):
    """The platform team's form, the request's state, and its checklist (item -> who/when)."""

    __tablename__ = "oob_requests"
    __table_args__ = (
        Index("ix_oob_requests_incident", "incident_id", "id"),
        Index("ix_oob_requests_deployed_at", "deployed_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    state: Mapped[str] = mapped_column(String(16), default="draft")
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The form
    prs: Mapped[list[str]] = mapped_column(JSONType, default=list)
    platform_severity: Mapped[str | None] = mapped_column(String(16))
    active_daily_users: Mapped[int | None] = mapped_column(Integer)
    fix_confirmed_in_staging: Mapped[bool | None] = mapped_column()
    not_confirmed_reason: Mapped[str | None] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(Text)
    validation_steps: Mapped[str | None] = mapped_column(Text)
    validated_by: Mapped[str | None] = mapped_column(String(200))
    confirm_after_cutoff: Mapped[bool] = mapped_column(default=False)
    confirm_cannot_wait: Mapped[bool] = mapped_column(default=False)
    confirm_postmortem: Mapped[bool] = mapped_column(default=False)
    proxies_changed: Mapped[bool] = mapped_column(default=False)
    security_related: Mapped[bool] = mapped_column(default=False)
    # The platform side
    checklist: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    requested_by: Mapped[str | None] = mapped_column(String(64))
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    approved_by: Mapped[str | None] = mapped_column(String(64))
    deployed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    deployed_by: Mapped[str | None] = mapped_column(String(64))
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    verified_by: Mapped[str | None] = mapped_column(String(64))
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_by: Mapped[str | None] = mapped_column(String(64))
    closed_reason: Mapped[str | None] = mapped_column(Text)
    postmortem_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    postmortem_done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    postmortem_url: Mapped[str | None] = mapped_column(String(2000))

    @property
    def ref(self) -> str:
        return f"OOB-{self.id}"
