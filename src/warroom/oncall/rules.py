"""Who is on call when: rotations counted on the wall clock, restrictions, layers, overrides (pure).

Every handoff is a local wall-clock time of the rotation's time zone: the first at `start` +
`handoff`, each next one `length` later on the wall clock, so a 09:00 handoff stays at 09:00 local
across DST changes and a daily shift across a change is one calendar day (23 or 25 hours) that
ends where the next one starts: no gap, no overlap. A wall time the clocks skip resolves to the
moment they jump (02:30 on a spring-forward night is 03:00); one they repeat, to its first occurrence.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from warroom.policy.schedules import WEEKDAYS, Restriction, Rotation, Schedule

ONE_SECOND = timedelta(seconds=1)
LOOKBACK = timedelta(days=7)  # how far back `since` is looked for
LOOKAHEAD = (timedelta(days=35), timedelta(days=400))  # how far ahead `until` and `next` are looked for


@dataclass(frozen=True)
class Segment:
    """`who` (a handle or e-mail as the source names them; None: nobody) is on call in [start, end)."""

    start: datetime
    end: datetime
    who: str | None
    via: str  # rotation layer name, "override", "ical", "pagerduty" or "gap"
    note: str = ""


@dataclass(frozen=True)
class Current:
    """Who is on call at an instant, since and until when, and who comes next (None: nobody known)."""

    at: datetime
    who: str | None
    via: str
    since: datetime | None
    until: datetime | None
    next_who: str | None = None
    next_start: datetime | None = None
    next_until: datetime | None = None
    note: str = ""


def local_wall(instant: datetime, tz: ZoneInfo) -> datetime:
    return instant.astimezone(tz).replace(tzinfo=None)


def resolve(wall: datetime, tz: ZoneInfo) -> datetime:
    """The first instant whose local time is `wall` or later, in UTC: exact for ordinary times, the
    first occurrence of a repeated one, the moment the clocks jump for a skipped one. Monotonic."""
    first = wall.replace(tzinfo=tz, fold=0).astimezone(UTC)
    if local_wall(first, tz) == wall:
        return first
    lo, hi = wall.replace(tzinfo=tz, fold=1).astimezone(UTC), first  # local(lo) < wall <= local(hi)
    if lo > hi:
        lo, hi = hi, lo
    while hi - lo > ONE_SECOND:
        mid = lo + (hi - lo) / 2
        mid = mid.replace(microsecond=0)
        if local_wall(mid, tz) >= wall:
            hi = mid
        else:
            lo = mid
    return hi if local_wall(lo, tz) < wall else lo


class RotationClock:
    """The handoffs of one rotation: boundary k is `start` + `handoff` + k x `length` on the wall clock."""

    def __init__(self, rotation: Rotation, tz: ZoneInfo) -> None:
        self.rotation, self.tz = rotation, tz
        self.anchor = datetime.combine(rotation.start, rotation.handoff)
        self.first = resolve(self.anchor, tz)
        self.step = rotation.length

    def boundary(self, k: int) -> datetime:
        return resolve(self.anchor + k * self.step, self.tz)

    def index_at(self, instant: datetime) -> int:
        """The shift running at `instant` (the largest k with boundary k <= instant); -1 before the start."""
        if instant < self.first:
            return -1
        k = int((instant - self.first) / self.step)
        while k > 0 and self.boundary(k) > instant:
            k -= 1
        while self.boundary(k + 1) <= instant:
            k += 1
        return k

    def member(self, k: int) -> str:
        return self.rotation.members[k % len(self.rotation.members)]

    def shifts(self, start: datetime, end: datetime) -> list[Segment]:
        """Every shift overlapping [start, end), whole (not clipped), same members run together."""
        out: list[Segment] = []
        k = max(self.index_at(start), 0)
        lower = self.boundary(k)
        while lower < end:
            upper = self.boundary(k + 1)
            who = self.member(k)
            if upper > lower:
                if out and out[-1].who == who and out[-1].end == lower:
                    out[-1] = replace(out[-1], end=upper)
                else:
                    out.append(Segment(lower, upper, who, self.rotation.name or "rotation"))
            k, lower = k + 1, upper
        return out


def restriction_windows(
    rules: Sequence[Restriction], tz: ZoneInfo, start: datetime, end: datetime
) -> list[tuple[datetime, datetime]]:
    """The allowed windows of local time overlapping [start, end), in UTC, merged."""
    windows: list[tuple[datetime, datetime]] = []
    first: date = local_wall(start, tz).date() - timedelta(days=1)
    last: date = local_wall(end, tz).date() + timedelta(days=1)
    day = first
    while day <= last:
        for rule in rules:
            if WEEKDAYS[day.weekday()] not in rule.days:
                continue
            ends_next_day = rule.end <= rule.start
            a = resolve(datetime.combine(day, rule.start), tz)
            b = resolve(datetime.combine(day + timedelta(days=int(ends_next_day)), rule.end), tz)
            if b > a and b > start and a < end:
                windows.append((a, b))
        day += timedelta(days=1)
    windows.sort()
    merged: list[tuple[datetime, datetime]] = []
    for a, b in windows:
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged


def rotation_segments(rotation: Rotation, default_tz: str, start: datetime, end: datetime) -> list[Segment]:
    """One layer: its shifts overlapping [start, end), cut to its restrictions if it has any."""
    tz = ZoneInfo(rotation.timezone or default_tz)
    shifts = RotationClock(rotation, tz).shifts(start, end)
    if not rotation.restrictions or not shifts:
        return shifts
    out: list[Segment] = []
    windows = restriction_windows(rotation.restrictions, tz, shifts[0].start, shifts[-1].end)
    for shift in shifts:
        for a, b in windows:
            lo, hi = max(a, shift.start), min(b, shift.end)
            if hi > lo:
                out.append(replace(shift, start=lo, end=hi))
    return out


def schedule_layers(schedule: Schedule, start: datetime, end: datetime) -> list[list[Segment]]:
    """A rotation schedule's layers, bottom first (a later layer wins)."""
    return [rotation_segments(r, schedule.timezone, start, end) for r in schedule.layers]


def timeline(layers: Iterable[Sequence[Segment]], start: datetime, end: datetime) -> list[Segment]:
    """[start, end) covered without gap or overlap: each layer painted over the ones before it
    (within one layer, a later-starting segment over an earlier one); nobody is a `gap` segment."""
    pieces = [Segment(start, end, None, "gap")]
    starts = [start]
    for layer in layers:
        for seg in sorted(layer, key=lambda s: s.start):
            lo, hi = max(seg.start, start), min(seg.end, end)
            if hi <= lo:
                continue
            i = bisect.bisect_right(starts, lo) - 1
            j = bisect.bisect_left(starts, hi) - 1
            new: list[Segment] = []
            if pieces[i].start < lo:
                new.append(replace(pieces[i], end=lo))
            new.append(replace(seg, start=lo, end=hi))
            if pieces[j].end > hi:
                new.append(replace(pieces[j], start=hi))
            pieces[i : j + 1] = new
            starts[i : j + 1] = [p.start for p in new]
    return coalesce(pieces)


def coalesce(pieces: Sequence[Segment]) -> list[Segment]:
    """Adjacent pieces of the same person from the same origin run together."""
    out: list[Segment] = []
    for p in pieces:
        if out and out[-1].end == p.start and (out[-1].who, out[-1].via, out[-1].note) == (p.who, p.via, p.note):
            out[-1] = replace(out[-1], end=p.end)
        else:
            out.append(p)
    return out


def at(pieces: Sequence[Segment], instant: datetime) -> Segment | None:
    for p in pieces:
        if p.start <= instant < p.end:
            return p
    return None


def current(pieces: Sequence[Segment], instant: datetime, *, complete_until: datetime) -> Current:
    """Who is on call at `instant` in a timeline; `until` is None when that person (or nobody) is
    still on call at `complete_until`, the end of what is known."""
    found = at(pieces, instant)
    if found is None:
        return Current(at=instant, who=None, via="gap", since=None, until=None)
    i = pieces.index(found)
    lo = i
    while lo > 0 and pieces[lo - 1].who == found.who and pieces[lo - 1].end == pieces[lo].start:
        lo -= 1
    hi = i
    while hi + 1 < len(pieces) and pieces[hi + 1].who == found.who and pieces[hi + 1].start == pieces[hi].end:
        hi += 1
    until = pieces[hi].end if pieces[hi].end < complete_until else None
    since = pieces[lo].start
    nxt = next((p for p in pieces[hi + 1 :] if p.who is not None), None)
    next_until = None
    if nxt is not None:
        k = pieces.index(nxt)
        while k + 1 < len(pieces) and pieces[k + 1].who == nxt.who and pieces[k + 1].start == pieces[k].end:
            k += 1
        next_until = pieces[k].end if pieces[k].end < complete_until else None
    return Current(
        at=instant,
        who=found.who,
        via=found.via,
        since=since,
        until=until,
        next_who=nxt.who if nxt else None,
        next_start=nxt.start if nxt else None,
        next_until=next_until,
        note=found.note,
    )


def gaps(pieces: Sequence[Segment]) -> list[Segment]:
    return [p for p in pieces if p.who is None and p.via == "gap"]


def covered_until(segments: Sequence[Segment], start: datetime) -> datetime:
    """The end of the unbroken run of segments from `start` (where a source's knowledge stops)."""
    end = start
    for seg in sorted(segments, key=lambda s: s.start):
        if seg.start > end:
            break
        end = max(end, seg.end)
    return end


def unknown_after(pieces: Sequence[Segment], instant: datetime) -> list[Segment]:
    """Nobody after `instant` means not known, not a gap (an external source that says no more)."""
    out: list[Segment] = []
    for p in pieces:
        if p.who is not None or p.end <= instant:
            out.append(p)
        elif p.start >= instant:
            out.append(replace(p, via="unknown"))
        else:
            out += [replace(p, end=instant), replace(p, start=instant, via="unknown")]
    return out


def parse_local(value: datetime, tz: ZoneInfo) -> datetime:
    """A time someone typed: aware as given, naive as local wall time of `tz` (the resolve rule)."""
    if value.tzinfo is not None:
        return value.astimezone(UTC)
    return resolve(value, tz)


def midnight(day: date, tz: ZoneInfo) -> datetime:
    return resolve(datetime.combine(day, time(0, 0)), tz)
