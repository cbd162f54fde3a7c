"""The on-call JSON contract."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from warroom.oncall.service import OnCall, Shift


class NextOut(BaseModel):
    user: str | None  # the warroom handle, when the name matches an active user
    who: str  # the handle or e-mail the schedule names
    start: datetime
    until: datetime | None


class OnCallOut(BaseModel):
    schedule: str
    name: str
    kind: str  # rotation | ical | pagerduty
    timezone: str
    at: datetime
    user: str | None
    who: str | None
    via: str
    since: datetime | None
    until: datetime | None  # null: beyond what is known
    next: NextOut | None
    source_ok: bool
    source_error: str | None
    fetched_at: datetime | None

    @classmethod
    def of(cls, answer: OnCall, *, name: str, kind: str, timezone: str) -> OnCallOut:
        nxt = answer.next
        return cls(
            schedule=answer.schedule,
            name=name or answer.schedule,
            kind=kind,
            timezone=timezone,
            at=answer.at,
            user=answer.user.handle if answer.user else None,
            who=answer.who,
            via=answer.via,
            since=answer.since,
            until=answer.until,
            next=NextOut(user=nxt.user.handle if nxt.user else None, who=nxt.who, start=nxt.start, until=nxt.until)
            if nxt
            else None,
            source_ok=answer.source_error is None,
            source_error=answer.source_error,
            fetched_at=answer.fetched_at,
        )


class ShiftOut(BaseModel):
    start: datetime
    end: datetime
    user: str | None
    who: str | None  # null: nobody (via `gap`), or not known (via `unknown`: beyond what a source says)
    via: str
    note: str = ""

    @classmethod
    def of(cls, shift: Shift) -> ShiftOut:
        return cls(
            start=shift.start,
            end=shift.end,
            user=shift.user.handle if shift.user else None,
            who=shift.who,
            via=shift.via,
            note=shift.note,
        )


class OverrideIn(BaseModel):
    """Naive times are local to `timezone` (default: the schedule's); times with an offset are exact."""

    model_config = ConfigDict(extra="forbid")

    schedule: str = Field(min_length=1, max_length=64)
    user: str = Field(min_length=1, max_length=64)
    start: datetime
    end: datetime
    timezone: str | None = Field(default=None, max_length=64)
    note: str = Field(default="", max_length=500)


class OverrideOut(BaseModel):
    id: int
    schedule: str
    user: str
    start: datetime
    end: datetime
    timezone: str
    local_start: datetime
    local_end: datetime
    note: str
    created_by: str
    created_at: datetime


class RefreshOut(BaseModel):
    schedule: str
    ok: bool
    shifts: int
    error: str | None
