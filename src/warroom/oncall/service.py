"""Who is on call: the use cases the API, the web UI, the CLI and escalation call (never commit).

`who(session, policy, schedule=..., at=...)` answers for one schedule, `who_all` for every one,
`timeline` lists the shifts and gaps of a window, `level_targets` says whom one level of an
escalation policy pages. Overrides are rows; external schedules are read from their cache
(`warroom.oncall.refresh` fills it), so nothing here waits on the network.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from warroom.core.errors import Conflict, Invalid, NotFound
from warroom.oncall import rules
from warroom.oncall.models import OncallOverride, OncallSourceCache
from warroom.oncall.rules import Segment
from warroom.oncall.sources import LOOKBEHIND, WINDOW
from warroom.policy.schedules import EscalationLevel, Schedule, check_timezone
from warroom.policy.schema import Policy
from warroom.users.models import User

MAX_OVERRIDE = timedelta(days=366)
MAX_WINDOW = timedelta(days=400)
EARLIEST, LATEST = datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC)


def check_instant(value: datetime, field: str) -> datetime:
    """Aware UTC (naive means UTC), between 2000 and 2100: far dates are typos, and would overflow."""
    value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if not EARLIEST <= value < LATEST:
        raise Invalid(f"{field} must be between 2000 and 2100", {"field": field})
    return value


@dataclass(frozen=True)
class Next:
    user: User | None
    who: str
    start: datetime
    until: datetime | None


@dataclass(frozen=True)
class OnCall:
    """`user` (a warroom user, None when nobody is on call or the name matches no active user) is on
    call for `schedule` at `at` since `since` until `until` (None: beyond what is known); then `next`."""

    schedule: str
    at: datetime
    user: User | None
    who: str | None  # the handle or e-mail the schedule names
    via: str  # rotation layer name, override, ical, pagerduty, or gap
    since: datetime | None
    until: datetime | None
    next: Next | None
    source_error: str | None = None  # an external source that failed: this is its last known answer
    fetched_at: datetime | None = None


@dataclass(frozen=True)
class Shift:
    start: datetime
    end: datetime
    user: User | None
    who: str | None  # None: a gap, nobody is on call
    via: str
    note: str = ""


@dataclass(frozen=True)
class Target:
    """One level of an escalation policy at an instant: whom it pages and how long they have to ack."""

    level: int  # 1-based
    users: list[User]
    ack_timeout: timedelta
    schedule: str | None = None
    oncall: OnCall | None = None


class People:
    """Active users by handle and e-mail, loaded once per use case."""

    def __init__(self, session: Session) -> None:
        rows = session.scalars(select(User).where(User.active.is_(True))).all()
        self.by_handle = {u.handle: u for u in rows}
        self.by_email = {u.email.strip().lower(): u for u in rows if u.email}

    def match(self, who: str | None) -> User | None:
        if not who:
            return None
        key = who.strip().lower()
        return self.by_handle.get(key) or self.by_email.get(key)


def require_schedule(policy: Policy, name: str) -> Schedule:
    found = policy.schedules.get(name)
    if found is None:
        known = ", ".join(sorted(policy.schedules)) or "none configured"
        raise NotFound(f"no schedule '{name}' in the policy (schedules: {known})")
    return found


def fingerprint(schedule: Schedule) -> str:
    """Of what an external schedule fetches: a changed URL or id starts its cache afresh."""
    source = schedule.ical or schedule.pagerduty
    raw = f"{schedule.timezone}|{source.model_dump_json() if source else ''}"
    return hashlib.sha256(raw.encode()).hexdigest()


def cache_row(session: Session, name: str, schedule: Schedule) -> OncallSourceCache | None:
    """The cached answer of an external schedule, if it is still for the source in the policy."""
    row = session.get(OncallSourceCache, name)
    return row if row is not None and row.fingerprint == fingerprint(schedule) else None


def _cached_segments(row: OncallSourceCache | None, via: str) -> list[Segment]:
    out = []
    for shift in row.shifts if row else []:
        start, end = datetime.fromisoformat(shift["start"]), datetime.fromisoformat(shift["end"])
        out.append(Segment(start.astimezone(UTC), end.astimezone(UTC), shift["who"], via, shift.get("label", "")))
    return out


def _override_segments(session: Session, name: str, start: datetime, end: datetime) -> list[Segment]:
    rows = session.execute(
        select(OncallOverride, User.handle)
        .join(User, User.id == OncallOverride.user_id)
        .where(OncallOverride.schedule == name, OncallOverride.starts_at < end, OncallOverride.ends_at > start)
        .order_by(OncallOverride.starts_at)
    ).all()
    return [Segment(r.starts_at, r.ends_at, handle, "override", r.note or "") for r, handle in rows]


def _layers(
    session: Session, name: str, schedule: Schedule, start: datetime, end: datetime
) -> tuple[list[list[Segment]], OncallSourceCache | None, datetime]:
    """The schedule's layers bottom first, overrides on top; and until when the answer is known."""
    row = None
    if schedule.kind == "rotation":
        layers = rules.schedule_layers(schedule, start, end)
        known_until = end
    else:
        row = cache_row(session, name, schedule)
        layers = [_cached_segments(row, schedule.kind)]
        fetched = row.fetched_at if row and row.fetched_at else None
        known_until = min(end, fetched + WINDOW) if fetched else start
        if fetched and schedule.kind == "pagerduty":  # earliest=true: each person's next turn only
            known_until = min(known_until, rules.covered_until(layers[0], fetched))
    layers.append(_override_segments(session, name, start, end))
    return layers, row, known_until


def timeline(session: Session, policy: Policy, *, schedule: str, start: datetime, end: datetime) -> list[Shift]:
    """Every shift of [start, end) in order, gaps included (who None), with the warroom user each names."""
    start, end = check_instant(start, "start"), check_instant(end, "end")
    if end <= start or end - start > MAX_WINDOW:
        raise Invalid("the window must end after it starts and span at most 400 days", {"field": "end"})
    found = require_schedule(policy, schedule)
    layers, _, known_until = _layers(session, schedule, found, start, end)
    people = People(session)
    pieces = rules.unknown_after(rules.timeline(layers, start, end), known_until)
    return [Shift(p.start, p.end, people.match(p.who), p.who, p.via, p.note) for p in pieces]


def who(session: Session, policy: Policy, *, schedule: str, at: datetime, people: People | None = None) -> OnCall:
    """Who is on call for `schedule` at `at`, until when, and who is next."""
    found = require_schedule(policy, schedule)
    at = check_instant(at, "at")
    people = people or People(session)
    horizons = rules.LOOKAHEAD if found.kind == "rotation" else rules.LOOKAHEAD[:1]
    for horizon in horizons:
        start, end = at - (rules.LOOKBACK if found.kind == "rotation" else LOOKBEHIND), at + horizon
        layers, row, known_until = _layers(session, schedule, found, start, end)
        pieces = rules.timeline(layers, start, end)
        now = rules.current(pieces, at, complete_until=max(known_until, at))
        if now.until is not None and now.next_who is not None:
            break
    nxt = None
    if now.next_who is not None and now.next_start is not None:
        nxt = Next(people.match(now.next_who), now.next_who, now.next_start, now.next_until)
    error = None
    if found.kind != "rotation":
        error = row.error if row is not None else "not fetched yet"
    return OnCall(
        schedule=schedule,
        at=at,
        user=people.match(now.who),
        who=now.who,
        via=now.via,
        since=now.since,
        until=now.until,
        next=nxt,
        source_error=error,
        fetched_at=row.fetched_at if row is not None else None,
    )


def who_all(session: Session, policy: Policy, *, at: datetime) -> list[OnCall]:
    people = People(session)
    return [who(session, policy, schedule=name, at=at, people=people) for name in policy.schedules]


def level_targets(session: Session, policy: Policy, *, escalation_policy: str, at: datetime) -> list[Target]:
    """Whom each level of an escalation policy pages at `at` (a schedule's on-call person, or its users)."""
    ep = policy.escalation_policies.get(escalation_policy)
    if ep is None:
        raise NotFound(f"no escalation policy '{escalation_policy}' in the policy")
    people = People(session)
    return [_target(session, policy, level, i, at, people) for i, level in enumerate(ep.levels, start=1)]


def level_target(
    session: Session, policy: Policy, *, escalation_policy: str, level: int, at: datetime
) -> Target | None:
    """One level (1-based) of an escalation policy at `at`, None past its last level; computed once
    per transaction and instant (a declaration asks for level 1 twice: its commander, its page)."""
    ep = policy.escalation_policies.get(escalation_policy)
    if ep is None:
        raise NotFound(f"no escalation policy '{escalation_policy}' in the policy")
    if not 1 <= level <= len(ep.levels):
        return None
    known: dict[tuple[str, int, datetime], Target] = session.info.setdefault("oncall_level_targets", {})
    key = (escalation_policy, level, at)
    if key not in known:
        known[key] = _target(session, policy, ep.levels[level - 1], level, at, People(session))
    return known[key]


def _target(session: Session, policy: Policy, level: EscalationLevel, i: int, at: datetime, people: People) -> Target:
    if level.schedule:
        answer = who(session, policy, schedule=level.schedule, at=at, people=people)
        users = [answer.user] if answer.user else []
        return Target(i, users, level.ack_timeout, schedule=level.schedule, oncall=answer)
    users = [u for u in (people.match(h) for h in level.users) if u is not None]
    return Target(i, users, level.ack_timeout)


def unknown_members(session: Session, policy: Policy) -> list[tuple[str, str]]:
    """(schedule, handle) of rotation members and escalation users who are no active warroom user."""
    people = People(session)
    out = []
    for name, schedule in policy.schedules.items():
        for layer in schedule.layers:
            out += [(name, h) for h in dict.fromkeys(layer.members) if people.match(h) is None]
    for name, ep in policy.escalation_policies.items():
        for level in ep.levels:
            out += [(f"escalation policy {name}", h) for h in level.users if people.match(h) is None]
    return list(dict.fromkeys(out))


# ---- overrides


def _lock_schedule(session: Session, name: str) -> None:
    """Serialise override writes of one schedule (SQLite's write lock already does)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": f"oncall:{name}"})


def add_override(
    session: Session,
    policy: Policy,
    *,
    now: datetime,
    actor: str,
    schedule: str,
    user: str,
    start: datetime,
    end: datetime,
    timezone: str | None = None,
    note: str = "",
) -> OncallOverride:
    """`user` covers `schedule` from `start` to `end` (naive times are local to `timezone`, by default
    the schedule's); refused when it overlaps another override of the schedule."""
    found = require_schedule(policy, schedule)
    zone = timezone or found.timezone
    try:
        tz = ZoneInfo(check_timezone(zone))
    except ValueError as exc:
        raise Invalid(str(exc), {"field": "timezone"}) from None
    for value, field in ((start, "start"), (end, "end")):
        if not EARLIEST.replace(tzinfo=None) <= value.replace(tzinfo=None) < LATEST.replace(tzinfo=None):
            raise Invalid(f"{field} must be between 2000 and 2100", {"field": field})
    first, last = rules.parse_local(start, tz), rules.parse_local(end, tz)
    if last <= first:
        raise Invalid("the override must end after it starts", {"field": "end"})
    if last <= now:
        raise Invalid("the override ends in the past", {"field": "end"})
    if last - first > MAX_OVERRIDE:
        raise Invalid("an override lasts at most 366 days", {"field": "end"})
    person = session.scalar(select(User).where(User.handle == user.strip().lower()))
    if person is None or not person.active:
        raise Invalid(f"no active user '{user}'", {"field": "user"})
    _lock_schedule(session, schedule)
    clash = session.execute(
        select(OncallOverride, User.handle)
        .join(User, User.id == OncallOverride.user_id)
        .where(OncallOverride.schedule == schedule, OncallOverride.starts_at < last, OncallOverride.ends_at > first)
        .order_by(OncallOverride.starts_at)
    ).first()
    if clash is not None:
        other, handle = clash
        raise Conflict(
            f"overlaps override #{other.id} ({handle}, {other.starts_at:%Y-%m-%d %H:%M} to "
            f"{other.ends_at:%Y-%m-%d %H:%M} UTC): remove it or change the times",
            {"overlaps": other.id},
        )
    row = OncallOverride(
        schedule=schedule,
        user_id=person.id,
        starts_at=first,
        ends_at=last,
        timezone=zone,
        note=note.strip()[:500],
        created_by=actor,
        created_at=now,
    )
    session.add(row)
    session.flush()
    return row


def list_overrides(
    session: Session, *, schedule: str | None = None, ending_after: datetime | None = None
) -> list[tuple[OncallOverride, str]]:
    """Overrides (with their user's handle) by start; `ending_after` hides those already over."""
    query = select(OncallOverride, User.handle).join(User, User.id == OncallOverride.user_id)
    if schedule:
        query = query.where(OncallOverride.schedule == schedule)
    if ending_after is not None:
        query = query.where(OncallOverride.ends_at > ending_after)
    return [(r, h) for r, h in session.execute(query.order_by(OncallOverride.starts_at, OncallOverride.id)).all()]


def remove_override(session: Session, *, override_id: int) -> OncallOverride:
    row = session.get(OncallOverride, override_id, with_for_update=True)
    if row is None:
        raise NotFound(f"no override #{override_id}")
    session.delete(row)
    session.flush()
    return row


def override_view(row: OncallOverride, handle: str) -> dict[str, Any]:
    tz = ZoneInfo(row.timezone)
    return {
        "id": row.id,
        "schedule": row.schedule,
        "user": handle,
        "start": row.starts_at,
        "end": row.ends_at,
        "timezone": row.timezone,
        "local_start": row.starts_at.astimezone(tz).replace(tzinfo=None),
        "local_end": row.ends_at.astimezone(tz).replace(tzinfo=None),
        "note": row.note,
        "created_by": row.created_by,
        "created_at": row.created_at,
    }


def source_rows(session: Session) -> list[OncallSourceCache]:
    return list(session.scalars(select(OncallSourceCache).order_by(OncallSourceCache.schedule)).all())


def override_count(session: Session, *, now: datetime) -> int:
    return session.scalar(select(func.count()).select_from(OncallOverride).where(OncallOverride.ends_at > now)) or 0
