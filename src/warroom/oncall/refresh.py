"""Refresh external schedules into their cache: a worker task, and `warroom oncall refresh`.

Outside any transaction: claim a schedule (its `next_at`, so two nodes never fetch it together),
fetch, then store the answer, or keep the last good one and record why it failed. A failure
comes back sooner than the TTL (backoff, or PagerDuty's Retry-After) and never raises."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from weakref import WeakKeyDictionary

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from warroom.core.clock import Clock
from warroom.core.hooks import WorkerContext
from warroom.core.settings import Settings
from warroom.oncall import sources
from warroom.oncall.models import OncallSourceCache
from warroom.oncall.service import fingerprint
from warroom.policy.schedules import Schedule
from warroom.policy.schema import Policy

log = logging.getLogger(__name__)
FIRST_RETRY = timedelta(seconds=30)
LOOK_EVERY = timedelta(seconds=5)  # a worker pass runs every 0.5 s when idle; the cache needs no such care
_next_look: WeakKeyDictionary[sessionmaker[Session], datetime] = WeakKeyDictionary()  # per process and database


@dataclass(frozen=True)
class Outcome:
    schedule: str
    ok: bool
    shifts: int = 0
    error: str | None = None


def _ttl(schedule: Schedule) -> timedelta:
    source = schedule.ical or schedule.pagerduty
    return source.ttl if source else timedelta(minutes=5)


def _lease(schedule: Schedule) -> timedelta:
    source = schedule.ical or schedule.pagerduty
    return (source.timeout if source else timedelta(seconds=10)) * 3 + timedelta(seconds=5)


def _claim(sessions: sessionmaker[Session], name: str, schedule: Schedule, now: datetime, force: bool) -> bool:
    """Take the schedule's turn to fetch (False: not due yet, or another node has it)."""
    mark = fingerprint(schedule)
    try:
        with sessions.begin() as s:
            row = s.get(OncallSourceCache, name, with_for_update=True)
            if row is None:
                s.add(OncallSourceCache(schedule=name, kind=schedule.kind, fingerprint=mark, shifts=[], next_at=now))
                s.flush()
                row = s.get(OncallSourceCache, name)
                assert row is not None
            elif row.fingerprint != mark:  # the policy points it elsewhere now: forget the old answer
                row.kind, row.fingerprint, row.shifts = schedule.kind, mark, []
                row.fetched_at, row.error, row.failures, row.next_at = None, None, 0, now
            if row.next_at > now and not force:
                return False
            row.next_at = now + _lease(schedule)
            return True
    except IntegrityError:  # another node inserted it first: it fetches
        return False


def _store(
    sessions: sessionmaker[Session],
    name: str,
    schedule: Schedule,
    now: datetime,
    shifts: list[dict[str, object]] | None,
    error: sources.SourceError | None,
) -> None:
    with sessions.begin() as s:
        row = s.get(OncallSourceCache, name, with_for_update=True)
        if row is None or row.fingerprint != fingerprint(schedule):
            return
        row.checked_at = now
        if error is None:
            row.shifts, row.fetched_at, row.error, row.failures = list(shifts or []), now, None, 0
            row.next_at = now + _ttl(schedule)
            return
        row.failures += 1
        row.error = error.message[:1000]
        backoff = min(FIRST_RETRY * 2 ** (row.failures - 1), max(_ttl(schedule), FIRST_RETRY))
        if error.retry_after is not None:
            backoff = max(backoff, timedelta(seconds=min(error.retry_after, 3600)))
        row.next_at = now + backoff


def refresh(
    sessions: sessionmaker[Session],
    policy: Policy,
    settings: Settings,
    clock: Clock,
    *,
    force: bool = False,
    only: str | None = None,
) -> list[Outcome]:
    """Fetch every external schedule that is due (or all of them with `force`, or just `only`)."""
    external = {n: s for n, s in policy.schedules.items() if s.kind != "rotation" and (not only or n == only)}
    with sessions.begin() as s:  # one look for the whole pass; claims only for what is due
        known = {r.schedule: (r.fingerprint, r.next_at) for r in s.scalars(select(OncallSourceCache))}
    now = clock.now()
    outcomes = []
    for name, schedule in external.items():
        mark, due = known.get(name, ("", now))
        if not force and mark == fingerprint(schedule) and due > now:
            continue
        if not _claim(sessions, name, schedule, clock.now(), force):
            continue
        outcomes.append(_fetch_and_store(sessions, name, schedule, settings, clock))
    stale = set(known) - {n for n, s in policy.schedules.items() if s.kind != "rotation"}
    if stale and not only:
        with sessions.begin() as s:
            s.execute(delete(OncallSourceCache).where(OncallSourceCache.schedule.in_(sorted(stale))))
    return outcomes


def _fetch_and_store(
    sessions: sessionmaker[Session], name: str, schedule: Schedule, settings: Settings, clock: Clock
) -> Outcome:
    shifts, error = None, None
    try:
        shifts = sources.fetch(
            schedule, token=settings.pagerduty_token, api_url=settings.pagerduty_api_url, now=clock.now()
        )
    except sources.SourceError as exc:
        error = exc
    except Exception as exc:  # noqa: BLE001 - a bug in one source must not stop the worker
        log.exception("on-call schedule %s: fetching failed", name)
        error = sources.SourceError(f"unexpected error: {type(exc).__name__}: {exc}"[:500])
    if error is not None:
        log.warning("on-call schedule %s: %s (keeping the last answer)", name, error.message)
    _store(sessions, name, schedule, clock.now(), shifts, error)
    return Outcome(name, error is None, len(shifts or []), error.message if error else None)


def worker_task(ctx: WorkerContext) -> int:
    """Each worker pass: refresh what is due, looking at the cache at most every LOOK_EVERY."""
    if not any(s.kind != "rotation" for s in ctx.policy.schedules.values()):
        return 0
    now = ctx.clock.now()
    if _next_look.get(ctx.sessions, now) > now:
        return 0
    _next_look[ctx.sessions] = now + LOOK_EVERY
    return len(refresh(ctx.sessions, ctx.policy, ctx.settings, ctx.clock))
