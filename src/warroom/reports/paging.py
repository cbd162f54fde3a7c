"""The paging report (pure): pages per person per month, out-of-hours pages, acknowledgements by
level, and MTTA from the first page to the acknowledgement."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

from warroom.policy.integrations import WorkingHours
from warroom.policy.schedules import WEEKDAYS


@dataclass(frozen=True)
class PageFacts:
    """One level of one incident's escalation that was paged."""

    incident_id: int
    level: int
    users: tuple[str, ...]
    paged_at: datetime
    acknowledged_at: datetime | None  # set on the level paged last when the incident was acknowledged


def out_of_hours(at: datetime, hours: WorkingHours) -> bool:
    """Outside the working days and hours, on the wall clock of the working hours' time zone."""
    local = at.astimezone(ZoneInfo(hours.timezone))
    start, end = time.fromisoformat(hours.start), time.fromisoformat(hours.end)
    if WEEKDAYS[local.weekday()] not in hours.days:
        return True
    return not start <= local.time().replace(tzinfo=None) < end


def summarize(pages: Sequence[PageFacts], hours: WorkingHours) -> dict[str, object]:
    """Counts (a page names one person per level; a level of several users counts for each)."""
    per_person: dict[tuple[str, str], list[int]] = {}
    by_level: dict[int, int] = {}
    first_page: dict[int, datetime] = {}
    acked: dict[int, datetime] = {}
    nights = 0
    for p in pages:
        first_page[p.incident_id] = min(first_page.get(p.incident_id, p.paged_at), p.paged_at)
        late = out_of_hours(p.paged_at, hours)
        nights += late and bool(p.users)
        month = p.paged_at.astimezone(UTC).strftime("%Y-%m")
        for user in p.users:
            counts = per_person.setdefault((user, month), [0, 0])
            counts[0] += 1
            counts[1] += int(late)
        if p.acknowledged_at is not None:
            by_level[p.level] = by_level.get(p.level, 0) + 1
            acked[p.incident_id] = p.acknowledged_at
    waits = [(acked[i] - first_page[i]).total_seconds() for i in acked]
    return {
        "incidents_paged": len(first_page),
        "pages": sum(1 for p in pages if p.users),
        "out_of_hours_pages": nights,
        "acknowledged": len(acked),
        "unacknowledged": len(first_page) - len(acked),
        "mtta_seconds": round(sum(waits) / len(waits), 3) if waits else None,
        "acknowledged_by_level": {str(level): n for level, n in sorted(by_level.items())},
        "people": [
            {"user": user, "month": month, "pages": n, "out_of_hours": late}
            for (user, month), (n, late) in sorted(per_person.items(), key=lambda kv: (kv[0][1], -kv[1][0], kv[0][0]))
        ],
    }
