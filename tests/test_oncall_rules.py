"""Who is on call when (warroom.oncall.rules): DST changes, restrictions, layers and overrides.

Grafana OnCall's schedule bugs #3261 (a handoff moves by an hour after a DST change), #5247 (a
weekly shift of fixed duration leaves a gap at the autumn change and an overlap in spring) and #5455
(a shift across the spring change ends early, leaving a gap) each have a test here."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from warroom.oncall import rules
from warroom.oncall.rules import Segment
from warroom.policy.schedules import Rotation, Schedule

NY, BERLIN = ZoneInfo("America/New_York"), ZoneInfo("Europe/Berlin")
# (zone, the day clocks change, wall time they leave, wall time they arrive at)
SPRING = [(NY, date(2026, 3, 8), time(2), time(3)), (BERLIN, date(2026, 3, 29), time(2), time(3))]
AUTUMN = [(NY, date(2026, 11, 1), time(2), time(1)), (BERLIN, date(2026, 10, 25), time(3), time(2))]
ZONES = ["America/New_York", "Europe/Berlin", "Europe/London", "Australia/Sydney", "America/Santiago", "UTC"]


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def layer(tz: ZoneInfo, **kw: object) -> Schedule:
    rotation = Rotation(**{"members": ["alice", "bob", "carol"], "start": date(2026, 1, 5), **kw})  # type: ignore[arg-type]
    return Schedule(timezone=str(tz), layers=[rotation])


def pieces(schedule: Schedule, start: datetime, end: datetime) -> list[Segment]:
    return rules.timeline(rules.schedule_layers(schedule, start, end), start, end)


def who(schedule: Schedule, instant: datetime) -> str | None:
    found = rules.at(pieces(schedule, instant - timedelta(days=1), instant + timedelta(days=1)), instant)
    assert found is not None
    return found.who


def local(instant: datetime, tz: ZoneInfo) -> datetime:
    return instant.astimezone(tz).replace(tzinfo=None)


@pytest.mark.parametrize(("tz", "day", "_from", "_to"), SPRING + AUTUMN)
def test_a_daily_handoff_stays_at_nine_local_and_the_shift_across_the_change_is_one_calendar_day(
    tz: ZoneInfo, day: date, _from: time, _to: time
) -> None:
    """#3261 and #5455: every handoff at 09:00 local; the shift holding the change ends at 09:00, no gap."""
    schedule = layer(tz, length="daily", handoff="09:00")
    start = datetime.combine(day - timedelta(days=3), time(12), tzinfo=tz).astimezone(UTC)
    found = pieces(schedule, start, start + timedelta(days=6))
    inner = found[1:-1]  # the first and last are cut by the window
    assert [local(p.start, tz).time() for p in inner] == [time(9)] * len(inner)
    assert all(a.end == b.start for a, b in zip(found, found[1:], strict=False))
    across = next(p for p in inner if local(p.start, tz).date() == day - timedelta(days=1))
    spring = (tz, day) in [(z, d) for z, d, _, _ in SPRING]
    assert across.end - across.start == timedelta(hours=23 if spring else 25)
    assert local(across.end, tz) == datetime.combine(day, time(9))
    assert {p.who for p in found} == {"alice", "bob", "carol"} and None not in {p.who for p in found}


@pytest.mark.parametrize(("tz", "day", "_from", "_to"), SPRING + AUTUMN)
def test_a_weekly_shift_across_a_change_neither_leaves_a_gap_nor_overlaps(
    tz: ZoneInfo, day: date, _from: time, _to: time
) -> None:
    """#5247: a weekly rotation (Monday 09:00) is 167 or 169 hours across the change, contiguous."""
    schedule = layer(tz, length="weekly", handoff="09:00")
    start = datetime.combine(day - timedelta(days=14), time(12), tzinfo=tz).astimezone(UTC)
    found = pieces(schedule, start, start + timedelta(days=28))
    assert all(a.end == b.start and a.who != b.who for a, b in zip(found, found[1:], strict=False))
    lengths = sorted({p.end - p.start for p in found[1:-1]})
    spring = (tz, day) in [(z, d) for z, d, _, _ in SPRING]
    assert lengths == sorted({timedelta(hours=168), timedelta(hours=167 if spring else 169)})
    assert {local(p.start, tz).strftime("%a %H:%M") for p in found[1:]} == {"Mon 09:00"}


@pytest.mark.parametrize(("tz", "day", "left", "arrived"), SPRING)
def test_a_handoff_at_a_skipped_minute_happens_when_the_clocks_jump(
    tz: ZoneInfo, day: date, left: time, arrived: time
) -> None:
    """Handoff at 02:00 (or 02:30), which does not exist that night: at the jump, 03:00 local."""
    for handoff in (left, time(left.hour, 30)):
        schedule = layer(tz, length="daily", handoff=handoff.strftime("%H:%M"))
        jump = datetime.combine(day, arrived, tzinfo=tz).astimezone(UTC)
        before, after = who(schedule, jump - timedelta(seconds=1)), who(schedule, jump)
        assert before != after, handoff
        assert who(schedule, jump + timedelta(hours=22, minutes=59)) == after  # 01:59 the next night
        # the day after, the handoff is at its own time again
        next_day = datetime.combine(day + timedelta(days=1), handoff, tzinfo=tz).astimezone(UTC)
        assert who(schedule, next_day - timedelta(seconds=1)) == after != who(schedule, next_day)


@pytest.mark.parametrize(("tz", "day", "left", "back_to"), AUTUMN)
def test_a_handoff_at_a_repeated_minute_happens_the_first_time(
    tz: ZoneInfo, day: date, left: time, back_to: time
) -> None:
    """Handoff at 01:30 NY / 02:30 Berlin on the autumn night (it happens twice): the first time only."""
    handoff = time(back_to.hour, 30)
    schedule = layer(tz, length="daily", handoff=handoff.strftime("%H:%M"))
    first = datetime.combine(day, handoff, tzinfo=tz).replace(fold=0).astimezone(UTC)
    second = datetime.combine(day, handoff, tzinfo=tz).replace(fold=1).astimezone(UTC)
    assert second - first == timedelta(hours=1)
    before, after = who(schedule, first - timedelta(seconds=1)), who(schedule, first)
    assert before != after
    assert who(schedule, second) == after == who(schedule, second + timedelta(seconds=1))
    # and a handoff at the minute the clocks go back to is exact, once
    edge = layer(tz, length="daily", handoff=left.strftime("%H:%M"))
    at_edge = datetime.combine(day, left, tzinfo=tz).replace(fold=1).astimezone(UTC)  # after the change
    assert who(edge, at_edge - timedelta(seconds=1)) != who(edge, at_edge)


def test_hourly_shifts_over_the_spring_night_cover_the_clock_without_gap() -> None:
    schedule = layer(NY, length="1h", handoff="00:00", members=["a", "b", "c", "d"])
    start, end = utc(2026, 3, 8, 4), utc(2026, 3, 8, 10)
    found = pieces(schedule, start, end)
    assert found[0].start == start and found[-1].end == end
    assert all(a.end == b.start for a, b in zip(found, found[1:], strict=False))
    assert None not in {p.who for p in found}
    # 01:00-02:00 EST, then the skipped hour's shift is empty, then 03:00 EDT onwards
    assert [local(p.start, NY).strftime("%H:%M") for p in found] == [
        "23:00",
        "00:00",
        "01:00",
        "03:00",
        "04:00",
        "05:00",
    ]


def test_restrictions_weekdays_nine_to_five() -> None:
    schedule = layer(
        BERLIN,
        length="weekly",
        restrictions=[{"days": ["mon", "tue", "wed", "thu", "fri"], "start": "09:00", "end": "17:00"}],
    )
    monday = date(2026, 3, 23)  # the week of the spring change (Sunday 29th)

    def at(day: date, hh: int, mm: int = 0) -> datetime:
        return datetime.combine(day, time(hh, mm), tzinfo=BERLIN).astimezone(UTC)

    assert who(schedule, at(monday, 8, 59)) is None
    assert who(schedule, at(monday, 9)) is not None
    assert who(schedule, at(monday, 16, 59)) is not None
    assert who(schedule, at(monday, 17)) is None
    assert who(schedule, at(monday + timedelta(days=5), 12)) is None  # Saturday
    # the Monday after the change: still 09:00-17:00 local
    assert who(schedule, at(monday + timedelta(days=7), 8, 59)) is None
    assert who(schedule, at(monday + timedelta(days=7), 9)) is not None
    week = pieces(schedule, at(monday, 0), at(monday + timedelta(days=7), 0))
    on = [p for p in week if p.who]
    assert len(on) == 5 and all(p.end - p.start == timedelta(hours=8) for p in on)


def test_a_night_restriction_runs_past_midnight_and_across_the_change() -> None:
    schedule = layer(NY, length="daily", handoff="09:00", restrictions=[{"start": "17:00", "end": "09:00"}])
    night = pieces(schedule, utc(2026, 3, 7, 15), utc(2026, 3, 8, 18))  # 10:00 EST to 14:00 EDT
    on = [p for p in night if p.who]
    assert len(on) == 1
    assert local(on[0].start, NY) == datetime(2026, 3, 7, 17) and local(on[0].end, NY) == datetime(2026, 3, 8, 9)
    assert on[0].end - on[0].start == timedelta(hours=15)  # 16 hours of wall clock, one of them skipped


def test_a_higher_layer_wins_where_it_has_someone() -> None:
    base = Rotation(members=["alice", "bob"], start=date(2026, 1, 5), length="weekly")
    day = Rotation(
        name="business hours",
        members=["carol"],
        start=date(2026, 1, 5),
        length="daily",
        restrictions=[{"days": ["mon", "tue", "wed", "thu", "fri"], "start": "10:00", "end": "16:00"}],
    )
    schedule = Schedule(timezone="Europe/Berlin", layers=[base, day])
    monday = date(2026, 10, 19)
    at = lambda hh: datetime.combine(monday, time(hh), tzinfo=BERLIN).astimezone(UTC)  # noqa: E731
    assert who(schedule, at(9)) in ("alice", "bob")
    assert who(schedule, at(10)) == "carol"
    assert who(schedule, at(16)) == who(schedule, at(9))
    found = rules.at(pieces(schedule, at(0), at(23)), at(12))
    assert found is not None and found.via == "business hours"


def _override(start: datetime, end: datetime, who: str) -> list[Segment]:
    return [Segment(start, end, who, "override")]


def test_overrides_inside_and_across_shifts() -> None:
    schedule = layer(BERLIN, length="daily", handoff="09:00")
    t0 = datetime(2026, 12, 24, 9, tzinfo=BERLIN).astimezone(UTC)
    layers = rules.schedule_layers(schedule, t0 - timedelta(days=2), t0 + timedelta(days=4))
    plain = rules.timeline(layers, t0 - timedelta(days=2), t0 + timedelta(days=4))
    # inside one shift: 18:00-22:00 on the 24th
    inside = _override(t0 + timedelta(hours=9), t0 + timedelta(hours=13), "dave")
    found = rules.timeline([*layers, inside], t0 - timedelta(days=2), t0 + timedelta(days=4))
    shift = rules.at(plain, t0 + timedelta(hours=1))
    assert shift is not None
    assert [p.who for p in found if t0 <= p.start < t0 + timedelta(days=1)] == [shift.who, "dave", shift.who]
    now = rules.current(found, t0 + timedelta(hours=10), complete_until=t0 + timedelta(days=4))
    assert (now.who, now.until, now.next_who) == ("dave", t0 + timedelta(hours=13), shift.who)
    assert now.next_until == t0 + timedelta(days=1)
    # across two shifts: "alice covers bob from 2026-12-24 18:00 to 2026-12-26 09:00 Europe/Berlin"
    start = datetime(2026, 12, 24, 18, tzinfo=BERLIN).astimezone(UTC)
    end = datetime(2026, 12, 26, 9, tzinfo=BERLIN).astimezone(UTC)
    found = rules.timeline([*layers, _override(start, end, "dave")], t0 - timedelta(days=2), t0 + timedelta(days=4))
    assert rules.at(found, start - timedelta(seconds=1)).who == shift.who  # type: ignore[union-attr]
    assert {p.who for p in found if start <= p.start < end} == {"dave"}
    after = rules.at(found, end)
    assert after is not None and after.who == rules.at(plain, end).who  # type: ignore[union-attr]
    assert rules.current(found, start, complete_until=end + timedelta(days=1)).until == end


def test_current_when_nobody_is_on_call_says_when_someone_is() -> None:
    schedule = layer(BERLIN, length="daily", restrictions=[{"start": "09:00", "end": "17:00"}])
    t = datetime(2026, 10, 20, 20, tzinfo=BERLIN).astimezone(UTC)
    found = pieces(schedule, t - timedelta(days=1), t + timedelta(days=2))
    now = rules.current(found, t, complete_until=t + timedelta(days=2))
    assert now.who is None and now.via == "gap"
    assert local(now.until, BERLIN) == datetime(2026, 10, 21, 9)  # type: ignore[arg-type]
    assert now.next_who is not None and now.next_start == now.until


def test_before_a_rotation_starts_nobody_is_on_call() -> None:
    schedule = layer(BERLIN, start=date(2026, 6, 1))
    assert who(schedule, utc(2026, 5, 1)) is None
    assert who(schedule, datetime(2026, 6, 1, 9, tzinfo=BERLIN).astimezone(UTC)) == "alice"


# ---- properties


@st.composite
def rotations(draw: st.DrawFn, restricted: bool = False) -> tuple[Schedule, datetime, datetime]:
    zone = draw(st.sampled_from(ZONES))
    members = draw(st.lists(st.sampled_from(["a", "b", "c", "d", "e"]), min_size=1, max_size=5))
    length = draw(st.sampled_from(["1h", "2h", "5h", "8h", "12h", "daily", "36h", "3d", "weekly", "2w"]))
    handoff = draw(st.times()).replace(second=0, microsecond=0)
    start = draw(st.dates(min_value=date(2025, 1, 1), max_value=date(2027, 6, 1)))
    rotation = Rotation(members=members, start=start, handoff=handoff.strftime("%H:%M"), length=length)
    window_start = draw(st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2027, 12, 1))).replace(
        tzinfo=UTC
    )
    span = timedelta(hours=draw(st.integers(min_value=1, max_value=24 * 21)))
    return Schedule(timezone=zone, layers=[rotation]), window_start, window_start + span


def _handoffs(rotation: Rotation, tz: ZoneInfo, since: datetime, until: datetime) -> tuple[int, list[datetime]]:
    """(k0, handoffs k0, k0+1, ... up to `until`) by plain counting, k0 two days of elapsed time before `since`."""
    anchor = datetime.combine(rotation.start, rotation.handoff)
    first = rules.resolve(anchor, tz)
    k0 = max(int((since - first - timedelta(days=2)) / rotation.length), 0)
    out, k = [], k0
    while True:
        b = rules.resolve(anchor + k * rotation.length, tz)
        if b > until:
            return k0, out
        out.append(b)
        k += 1


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rotations(), st.lists(st.floats(min_value=0, max_value=1), min_size=1, max_size=8))
def test_property_a_rotation_covers_its_time_without_gap_or_overlap(
    case: tuple[Schedule, datetime, datetime], probes: list[float]
) -> None:
    schedule, start, end = case
    rotation, tz = schedule.layers[0], ZoneInfo(schedule.timezone)
    first = rules.resolve(datetime.combine(rotation.start, rotation.handoff), tz)
    found = pieces(schedule, start, end)
    assert found[0].start == start and found[-1].end == end
    assert all(a.end == b.start for a, b in zip(found, found[1:], strict=False))
    assert all(p.start < p.end for p in found)
    on = [p for p in found if p.who is not None]
    assert all(p.start >= first for p in on) and all(p.who is None for p in found if p.end <= first)
    if start >= first:
        assert len(on) == len(found)  # no restriction: never a gap once it has started
    k0, handoffs = _handoffs(rotation, tz, start, end)
    assert k0 == 0 or handoffs[0] < start - timedelta(days=1)
    for p in probes:
        instant = start + (end - start) * p
        if instant >= end:
            continue
        k = k0 + sum(1 for b in handoffs if b <= instant) - 1
        expected = None if k < 0 else rotation.members[k % len(rotation.members)]
        assert rules.at(found, instant).who == expected, instant  # type: ignore[union-attr]


@settings(max_examples=150, deadline=None)
@given(
    st.sampled_from(["America/New_York", "Europe/Berlin", "Australia/Sydney"]),
    st.sampled_from([1, 3, 7, 14]),
    st.integers(min_value=4, max_value=23),
    st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31)),
)
def test_property_day_rotations_follow_the_local_calendar(zone: str, days: int, hour: int, when: datetime) -> None:
    """An oracle that never converts a wall time: the local date and clock of the instant say whose turn it is."""
    tz = ZoneInfo(zone)
    members = ["a", "b", "c", "d", "e"]
    schedule = layer(tz, members=members, start=date(2025, 12, 1), length=f"{days}d", handoff=f"{hour:02d}:15")
    instant = when.replace(tzinfo=UTC)
    wall = local(instant, tz)
    elapsed = (wall.date() - date(2025, 12, 1)).days - (1 if wall.time() < time(hour, 15) else 0)
    assert who(schedule, instant) == members[(elapsed // days) % len(members)]


def test_resolve_is_the_first_instant_at_or_after_a_wall_time() -> None:
    for zone in ZONES:
        tz = ZoneInfo(zone)
        wall = datetime(2026, 1, 1)
        last = rules.resolve(wall, tz)
        while wall < datetime(2027, 1, 1):
            wall += timedelta(minutes=30)
            found = rules.resolve(wall, tz)
            assert found >= last  # monotonic
            assert local(found, tz) >= wall and local(found - timedelta(seconds=1), tz) < wall, (zone, wall)
            last = found


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.lists(st.tuples(st.integers(0, 96), st.integers(1, 48), st.sampled_from("abcd")), max_size=6),
        min_size=1,
        max_size=4,
    ),
    st.integers(0, 120),
)
def test_property_the_top_layer_with_someone_wins_at_every_instant(
    layers: list[list[tuple[int, int, str]]], probe: int
) -> None:
    """Layers (the last is the overrides) of non-overlapping segments: at each instant, the highest that has someone."""
    t0 = utc(2026, 3, 28)
    hour = timedelta(hours=1)
    stack: list[list[Segment]] = []
    for i, raw in enumerate(layers):
        segs, taken = [], set()
        for offset, length, person in raw:
            hours = set(range(offset, offset + length))
            if hours & taken:
                continue  # one layer's segments do not overlap
            taken |= hours
            segs.append(Segment(t0 + offset * hour, t0 + (offset + length) * hour, person, f"layer{i}"))
        stack.append(segs)
    start, end = t0, t0 + 120 * hour
    found = rules.timeline(stack, start, end)
    assert found[0].start == start and found[-1].end == end
    assert all(a.end == b.start for a, b in zip(found, found[1:], strict=False))
    instant = t0 + probe * hour + timedelta(minutes=30)
    if instant >= end:
        return
    expected = None
    for segs in stack:
        for s in segs:
            if s.start <= instant < s.end:
                expected = s.who
    assert rules.at(found, instant).who == expected  # type: ignore[union-attr]
