"""What the on-call page shows of a schedule: its shifts in local time and a 14-day SVG strip (pure)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from html import escape
from zoneinfo import ZoneInfo

from warroom.oncall.service import Shift

PALETTE = ("#2f6fb0", "#2e8540", "#8a5a00", "#6b3fa0", "#00707a", "#a33c6b", "#4d5a66", "#7a5c12")
GAP = "#c0392b"
UNKNOWN = "#d5dade"


@dataclass(frozen=True)
class Row:
    start: str
    end: str
    person: str | None  # None: a gap
    matched: bool  # the name is an active warroom user
    via: str
    hours: float


def person(shift: Shift) -> str | None:
    return shift.user.handle if shift.user else shift.who


def rows(shifts: Sequence[Shift], tz: ZoneInfo) -> list[Row]:
    fmt = "%a %d %b %H:%M %Z"
    return [
        Row(
            start=s.start.astimezone(tz).strftime(fmt),
            end=s.end.astimezone(tz).strftime(fmt),
            person=person(s),
            matched=s.user is not None,
            via=s.via,
            hours=round((s.end - s.start).total_seconds() / 3600, 2),
        )
        for s in shifts
    ]


def colour(name: str) -> str:
    return PALETTE[int(hashlib.sha256(name.encode()).hexdigest(), 16) % len(PALETTE)]


def strip(shifts: Sequence[Shift], *, start: datetime, end: datetime, tz: ZoneInfo, title: str) -> str:
    """One bar per shift on a time axis with a tick at each local midnight; gaps drawn in red."""
    width, left, top, bar = 960, 4, 22, 34
    span = (end - start).total_seconds() or 1.0

    def x(t: datetime) -> float:
        return left + (width - 2 * left) * max(min((t - start).total_seconds() / span, 1.0), 0.0)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {top + bar + 6}" role="img" '
        f'aria-label="{escape(title)}" font-family="system-ui, sans-serif" font-size="11" class="oncall-strip">',
        f"<title>{escape(title)}</title>",
    ]
    day = start.astimezone(tz).replace(hour=0, minute=0, second=0, microsecond=0, tzinfo=None)
    while True:
        day += timedelta(days=1)
        instant = day.replace(tzinfo=tz)
        if instant >= end:
            break
        parts.append(
            f'<line x1="{x(instant):.1f}" x2="{x(instant):.1f}" y1="{top - 4}" y2="{top + bar}" stroke="#c8ced4"/>'
        )
        parts.append(f'<text x="{x(instant) + 2:.1f}" y="{top - 8}" fill="#55606b">{day:%a %d}</text>')
    for s in shifts:
        name = person(s)
        a, b = x(s.start), x(s.end)
        unknown = name is None and s.via == "unknown"
        fill = UNKNOWN if unknown else GAP if name is None else colour(name)
        local = f"{s.start.astimezone(tz):%a %d %b %H:%M} - {s.end.astimezone(tz):%a %d %b %H:%M %Z}"
        label = f"{'not known' if unknown else name or 'nobody on call'} ({s.via}): {local}"
        cls = "unknown" if unknown else "gap" if name is None else "shift"
        parts.append(
            f'<rect class="{cls}" x="{a:.1f}" y="{top}" width="{max(b - a, 0.5):.1f}" height="{bar}" fill="{fill}" '
            f'stroke="#fff" data-who="{escape(name or "")}"><title>{escape(label)}</title></rect>'
        )
        if b - a > 7 * (len(name or "gap") + 1):
            parts.append(
                f'<text x="{a + 3:.1f}" y="{top + bar / 2 + 4:.1f}" fill="#fff">{escape(name or "gap")}</text>'
            )
    parts.append("</svg>")
    return "\n".join(parts)
