"""External schedules: an iCal feed or PagerDuty's `/oncalls`, fetched into plain shifts.

Every failure is a `SourceError` with a sentence a person can act on (and PagerDuty's Retry-After),
never an exception that escapes into the worker."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from warroom.oncall.rules import midnight, resolve
from warroom.policy.schedules import IcalSource, PagerDutySource, Schedule

MAX_BYTES = 5_000_000  # a calendar larger than this is not an on-call calendar
LOOKBEHIND = timedelta(days=1)  # shifts that started before now still say who is on call now
WINDOW = timedelta(days=35)  # how far ahead shifts are fetched (the UI shows 14 days)
PD_ACCEPT = "application/vnd.pagerduty+json;version=2"
PD_PAGES = 20


class SourceError(Exception):
    """The source could not answer; `retry_after` (seconds) when it said when to come back."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after


def _shift(start: datetime, end: datetime, who: str, label: str) -> dict[str, Any]:
    return {
        "start": start.astimezone(UTC).isoformat(),
        "end": end.astimezone(UTC).isoformat(),
        "who": who,
        "label": label,
    }


@dataclass(frozen=True)
class Answer:
    status_code: int
    headers: httpx.Headers
    content: bytes

    def json(self) -> Any:
        return json.loads(self.content)


def _get(client: httpx.Client, url: str, what: str, **kw: Any) -> Answer:
    """One GET, its body read up to MAX_BYTES; the network's failures as SourceError."""
    timeout = client.timeout.read or 10.0
    deadline = time.monotonic() + 2 * timeout  # a server that answers a byte at a time is down too
    try:
        with client.stream("GET", url, **kw) as response:
            body = bytearray()
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > MAX_BYTES:
                    raise SourceError(f"{what} answered more than {MAX_BYTES // 1_000_000} MB")
                if time.monotonic() > deadline:
                    raise SourceError(f"{what} did not answer in time")
            return Answer(response.status_code, response.headers, bytes(body))
    except httpx.TimeoutException:
        raise SourceError(f"{what} did not answer in time") from None
    except httpx.HTTPError as exc:
        raise SourceError(f"cannot reach {what}: {type(exc).__name__}: {exc}"[:500]) from None


# ---- iCal


def _when(value: date | datetime, tz: ZoneInfo) -> datetime:
    """All-day dates start at local midnight; floating times are the schedule's local time."""
    if not isinstance(value, datetime):
        return midnight(value, tz)
    if value.tzinfo is None:
        return resolve(value, tz)
    return value.astimezone(UTC)


def _person(event: Any) -> str | None:
    """The first attendee's (or the organizer's) e-mail, else the summary as a handle or e-mail."""
    attendees = event.get("ATTENDEE")
    found = attendees if isinstance(attendees, list) else [attendees] if attendees else []
    if event.get("ORGANIZER") and not found:
        found = [event.get("ORGANIZER")]
    for value in found:
        text = str(value).strip()
        if text.lower().startswith("mailto:"):
            text = text[7:]
        if "@" in text:
            return text.lower()
    summary = str(event.get("SUMMARY") or "").strip()
    return summary or None


def parse_ical(data: bytes, *, tz: ZoneInfo, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """Events of an RFC 5545 calendar in [start, end) (RRULE, RDATE, EXDATE expanded) as shifts."""
    import icalendar
    import recurring_ical_events

    head = data.lstrip()[:200].upper()
    if not head.startswith(b"BEGIN:VCALENDAR"):
        raise SourceError("the feed is not iCalendar (it does not start with BEGIN:VCALENDAR)")
    try:
        calendar = icalendar.Calendar.from_ical(data)
        events: Iterable[Any] = recurring_ical_events.of(calendar).between(start, end)
        shifts = []
        for event in events:
            begin = event.get("DTSTART")
            if begin is None:
                continue
            first = _when(begin.dt, tz)
            if event.get("DTEND") is not None:
                last = _when(event.get("DTEND").dt, tz)
            elif event.get("DURATION") is not None:
                last = first + event.get("DURATION").dt
            else:
                last = first + (timedelta(days=1) if not isinstance(begin.dt, datetime) else timedelta(0))
            who = _person(event)
            if who and last > first:
                shifts.append(_shift(first, last, who, str(event.get("SUMMARY") or "")[:200]))
    except SourceError:
        raise
    except Exception as exc:  # noqa: BLE001 - any parser failure is a bad feed, not a crash
        raise SourceError(f"the feed is not valid iCalendar: {type(exc).__name__}: {exc}"[:500]) from None
    return sorted(shifts, key=lambda s: (s["start"], s["end"]))


def fetch_ical(source: IcalSource, *, tz: ZoneInfo, now: datetime) -> list[dict[str, Any]]:
    with httpx.Client(timeout=source.timeout.total_seconds(), follow_redirects=True) as client:
        response = _get(client, source.url, "the iCal feed", headers={"Accept": "text/calendar"})
    if response.status_code >= 400:
        raise SourceError(f"the iCal feed answered HTTP {response.status_code}")
    return parse_ical(response.content, tz=tz, start=now - LOOKBEHIND, end=now + WINDOW)


# ---- PagerDuty


def _pd_time(value: str | None, default: datetime) -> datetime:
    if not value:
        return default
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


def _pd_refusal(response: Answer) -> SourceError:
    code = response.status_code
    if code == 401:
        return SourceError("PagerDuty refused the API key (401): check WARROOM_PAGERDUTY_TOKEN")
    if code == 403:
        return SourceError("PagerDuty: the API key may not read this schedule or escalation policy (403)")
    if code == 404:
        return SourceError("PagerDuty does not know this schedule or escalation policy (404)")
    if code == 429:
        try:
            wait = float(response.headers.get("retry-after", "")) if response.headers.get("retry-after") else None
        except ValueError:
            wait = None
        return SourceError("PagerDuty is rate limiting us (429)", retry_after=wait)
    return SourceError(f"PagerDuty answered HTTP {code}")


def fetch_pagerduty(source: PagerDutySource, *, token: str | None, api_url: str, now: datetime) -> list[dict[str, Any]]:
    """`GET /oncalls?earliest=true`: the person on call now and each person's next turn."""
    if not token:
        raise SourceError("WARROOM_PAGERDUTY_TOKEN is not set: PagerDuty schedules cannot be read")
    since, until = now, now + WINDOW
    params: list[tuple[str, str | int]] = [
        ("earliest", "true"),
        ("since", since.isoformat()),
        ("until", until.isoformat()),
        ("include[]", "users"),
        ("limit", 100),
    ]
    if source.schedule_id:
        params.append(("schedule_ids[]", source.schedule_id))
    else:  # /oncalls has no level filter: the level is picked below
        params.append(("escalation_policy_ids[]", source.escalation_policy_id or ""))
    headers = {"Authorization": f"Token token={token}", "Accept": PD_ACCEPT}
    shifts: dict[tuple[str, str, str], dict[str, Any]] = {}
    url = api_url.rstrip("/") + "/oncalls"
    offset = 0
    with httpx.Client(timeout=source.timeout.total_seconds(), headers=headers) as client:
        for _ in range(PD_PAGES):
            response = _get(client, url, "PagerDuty", params=[*params, ("offset", offset)])
            if response.status_code >= 400:
                raise _pd_refusal(response)
            try:
                body = response.json()
                entries = list(body["oncalls"])
                for entry in entries:
                    if source.escalation_policy_id and entry.get("escalation_level") not in (
                        None,
                        source.escalation_level,
                    ):
                        continue
                    user = entry.get("user") or {}
                    who = str(user.get("email") or user.get("summary") or "").strip().lower()
                    if who:
                        start, end = _pd_time(entry.get("start"), since), _pd_time(entry.get("end"), until)
                        shift = _shift(start, end, who, str(user.get("summary") or "")[:200])
                        shifts[(shift["start"], shift["end"], who)] = shift
            except (ValueError, KeyError, TypeError, AttributeError):
                raise SourceError("PagerDuty answered something that is not an /oncalls list") from None
            if not body.get("more") or not entries:
                break
            offset += len(entries)
    return sorted(shifts.values(), key=lambda s: (s["start"], s["end"]))


def fetch(schedule: Schedule, *, token: str | None, api_url: str, now: datetime) -> list[dict[str, Any]]:
    """The shifts an external schedule lists from a day ago to WINDOW ahead."""
    if schedule.ical is not None:
        return fetch_ical(schedule.ical, tz=ZoneInfo(schedule.timezone), now=now)
    if schedule.pagerduty is not None:
        return fetch_pagerduty(schedule.pagerduty, token=token, api_url=api_url, now=now)
    raise ValueError("not an external schedule")
