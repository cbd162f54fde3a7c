"""The on-call part of the policy file: schedules (rotations in layers, or an external calendar) and
escalation policies. Shapes and checks only; the computation is warroom.oncall.rules."""

from __future__ import annotations

import re
from datetime import date, time, timedelta
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BeforeValidator, Field, field_validator, model_validator

from warroom.policy.base import Duration, Strict
from warroom.policy.durations import parse_duration

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
HANDLE = r"^[a-z0-9][a-z0-9_.-]{0,63}$"  # the users domain's handle rule
NAME = r"^[a-z0-9][a-z0-9_.-]{0,63}$"
_CLOCK = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
_LENGTH = re.compile(r"^(\d+)\s*(w|d|h)$")
MIN_LENGTH, MAX_LENGTH = timedelta(hours=1), timedelta(days=366)


def check_timezone(value: str) -> str:
    """An IANA name (Europe/Berlin); a typo is an error at `warroom policy check`, not a UTC surprise."""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(f"unknown time zone '{value}' (use an IANA name like Europe/Berlin)") from None
    return value


def parse_clock(value: object) -> time:
    """`09:00` (a YAML `9:00` may arrive as minutes since midnight: 540)."""
    if isinstance(value, time):
        return value
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 1440:
        return time(value // 60, value % 60)
    match = _CLOCK.match(str(value).strip())
    if not match:
        raise ValueError(f"expected a time of day like '09:00', got {value!r}")
    return time(int(match.group(1)), int(match.group(2)))


def parse_length(value: object) -> timedelta:
    """`daily`, `weekly`, `3d`, `2w`, `12h` (or any duration): wall-clock days and hours."""
    if isinstance(value, timedelta):
        found = value
    else:
        text = str(value).strip().lower()
        match = _LENGTH.match(text)
        if text in ("daily", "weekly"):
            found = timedelta(days=1 if text == "daily" else 7)
        elif match:
            unit = {"w": timedelta(weeks=1), "d": timedelta(days=1), "h": timedelta(hours=1)}[match.group(2)]
            found = int(match.group(1)) * unit
        else:
            try:
                found = parse_duration(value)
            except ValueError:
                raise ValueError(f"expected daily, weekly, Nd, Nw or Nh, got {value!r}") from None
    if not MIN_LENGTH <= found <= MAX_LENGTH or found % timedelta(minutes=1):
        raise ValueError("a shift lasts from 1 hour to 366 days, in whole minutes")
    return found


Clock = Annotated[time, BeforeValidator(parse_clock)]
Length = Annotated[timedelta, BeforeValidator(parse_length)]
TimeZone = Annotated[str, BeforeValidator(lambda v: check_timezone(str(v)))]


class Restriction(Strict):
    """On call only inside this window of the rotation's local time; `end` <= `start` runs past midnight."""

    days: list[Weekday] = list(WEEKDAYS)  # type: ignore[arg-type]
    start: Clock
    end: Clock

    @field_validator("days")
    @classmethod
    def _days(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("list at least one day (mon..sun), or leave 'days' out for every day")
        return value


class Rotation(Strict):
    """Members take turns in order: the first from `start` at `handoff`, each next one `length` later,
    counted on the wall clock of `timezone` (a day across a DST change is 23 or 25 hours)."""

    name: str = ""
    members: list[Annotated[str, Field(pattern=HANDLE)]] = Field(min_length=1)
    start: date
    handoff: Clock = time(9, 0)
    length: Length = timedelta(days=7)
    timezone: TimeZone | None = None  # default: the schedule's
    restrictions: list[Restriction] = []

    @field_validator("members", mode="before")
    @classmethod
    def _members(cls, value: object) -> object:
        if isinstance(value, list) and not value:
            raise ValueError("a rotation needs at least one member (user handles, in order)")
        return value


class IcalSource(Strict):
    """An RFC 5545 feed (RRULE, EXDATE, all-day and TZID events); each event's attendee e-mail, or
    its summary as a handle or e-mail, names the person."""

    url: str = Field(pattern=r"^https?://")
    ttl: Duration = timedelta(minutes=5)
    timeout: Duration = timedelta(seconds=10)


class PagerDutySource(Strict):
    """PagerDuty's `GET /oncalls` (earliest=true) for one schedule, or one level of an escalation policy."""

    schedule_id: str | None = None
    escalation_policy_id: str | None = None
    escalation_level: int = Field(default=1, ge=1)
    ttl: Duration = timedelta(minutes=5)
    timeout: Duration = timedelta(seconds=10)

    @model_validator(mode="after")
    def _one(self) -> PagerDutySource:
        if bool(self.schedule_id) == bool(self.escalation_policy_id):
            raise ValueError("give exactly one of schedule_id or escalation_policy_id")
        return self


class Schedule(Strict):
    """Layers of rotations (a later layer wins wherever it has someone), or an external calendar."""

    name: str = ""
    timezone: TimeZone = "UTC"
    layers: list[Rotation] = []
    ical: IcalSource | None = None
    pagerduty: PagerDutySource | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Schedule:
        kinds = [k for k, v in (("layers", self.layers), ("ical", self.ical), ("pagerduty", self.pagerduty)) if v]
        if len(kinds) != 1:
            found = " and ".join(kinds) if kinds else "none"
            raise ValueError(f"a schedule has exactly one of layers, ical or pagerduty (found {found})")
        return self

    @property
    def kind(self) -> Literal["rotation", "ical", "pagerduty"]:
        return "ical" if self.ical else "pagerduty" if self.pagerduty else "rotation"


class EscalationLevel(Strict):
    """Who is paged at this level (a schedule's on-call person, or these users) and how long they have to ack."""

    schedule: str | None = None
    users: list[Annotated[str, Field(pattern=HANDLE)]] = []
    ack_timeout: Duration = timedelta(minutes=5)

    @model_validator(mode="after")
    def _target(self) -> EscalationLevel:
        if bool(self.schedule) == bool(self.users):
            raise ValueError("a level pages exactly one of: a schedule, or a list of users")
        if self.ack_timeout <= timedelta(0):
            raise ValueError("ack_timeout must be longer than 0s")
        return self


class EscalationPolicy(Strict):
    name: str = ""
    levels: list[EscalationLevel] = Field(min_length=1)


def check_names(
    schedules: dict[str, Schedule], escalation_policies: dict[str, EscalationPolicy], services: dict[str, str | None]
) -> None:
    """Cross-references: schedule and policy names, the schedules levels page, the policies services name."""
    for kind, names in (("schedules", schedules), ("escalation_policies", escalation_policies)):
        for key in names:
            if not re.match(NAME, key):
                raise ValueError(f"{kind}.{key}: names are 1-64 of a-z, 0-9, '.', '_' or '-'")
    for key, ep in escalation_policies.items():
        for i, level in enumerate(ep.levels):
            if level.schedule and level.schedule not in schedules:
                raise ValueError(f"escalation_policies.{key}.levels[{i}]: unknown schedule '{level.schedule}'")
    for service, ep_name in services.items():
        if ep_name and ep_name not in escalation_policies:
            raise ValueError(f"services.{service}.escalation_policy: unknown escalation policy '{ep_name}'")
