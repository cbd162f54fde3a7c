"""Claim due rows and run their handlers: the one mechanism behind every timed rule.

Domains register a handler per job kind; a worker (or a test) calls `run_due_jobs`.
Claims use FOR UPDATE SKIP LOCKED on PostgreSQL (many workers), BEGIN IMMEDIATE on SQLite.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, sessionmaker

from warroom import outage
from warroom.clock import Clock
from warroom.policy.schema import Policy
from warroom.reminders.models import DueJob

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class JobContext:
    policy: Policy
    now: datetime
    worker_id: str


JobHandler = Callable[[Session, JobContext, DueJob], None]
HANDLERS: dict[str, JobHandler] = {}


def handler(kind: str) -> Callable[[JobHandler], JobHandler]:
    """Register the function that runs jobs of `kind` (import its module before running)."""

    def register(fn: JobHandler) -> JobHandler:
        HANDLERS[kind] = fn
        return fn

    return register


def claim(session: Session, *, now: datetime, worker_id: str, lease: timedelta,
          limit: int = 100) -> list[tuple[int, datetime]]:
    """Lease up to `limit` due jobs to this worker; returns (id, due_at) pairs."""
    rows = session.scalars(
        select(DueJob)
        .where(DueJob.done.is_(False), DueJob.due_at <= now,
               or_(DueJob.lease_until.is_(None), DueJob.lease_until < now))
        .order_by(DueJob.due_at, DueJob.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    for job in rows:
        job.lease_until = now + lease
        job.claimed_by = worker_id
        job.attempts += 1
    return [(job.id, job.due_at) for job in rows]


def run_one(session: Session, ctx: JobContext, job_id: int, claimed_due: datetime) -> bool:
    """Run one claimed job inside the caller's transaction; False if the claim went stale."""
    job = session.scalar(select(DueJob).where(DueJob.id == job_id).with_for_update())
    if job is None or job.done or job.claimed_by != ctx.worker_id or job.due_at != claimed_due:
        return False  # rescheduled or taken over since we claimed it
    fn = HANDLERS.get(job.kind)
    if fn is None:
        job.last_error = f"no handler registered for job kind '{job.kind}'"
        job.done = True
        log.error(job.last_error)
        return False
    fn(session, ctx, job)
    if job.claimed_by == ctx.worker_id and job.due_at == claimed_due and not job.done:
        job.done = True  # the handler did not reschedule it
        job.lease_until = None
    return True


def run_due_jobs(sessions: sessionmaker[Session], *, policy: Policy, clock: Clock,
                 worker_id: str, lease: timedelta | None = None, limit: int = 100,
                 held: list[tuple[int, datetime]] | None = None) -> int:
    """Claim a batch in one transaction, then run each job in its own transaction.

    `held` carries claims across a database outage: a job whose transaction failed because the
    database went away stays in it (nothing of it was committed) and runs first next time."""
    now = clock.now()
    lease = lease or policy.notifications.lease
    held = held if held is not None else []
    if not held:
        with sessions.begin() as session:
            held.extend(claim(session, now=now, worker_id=worker_id, lease=lease, limit=limit))
    done = 0
    while held:
        job_id, due = held[0]
        ctx = JobContext(policy=policy, now=clock.now(), worker_id=worker_id)
        try:
            with sessions.begin() as session:
                done += run_one(session, ctx, job_id, due)
        except Exception as exc:  # noqa: BLE001 - a failing job must not stop the others
            if outage.is_outage(exc):
                raise  # kept in `held`; run_one re-checks the claim, so a finished job is not redone
            log.exception("job %s failed", job_id)
            with sessions.begin() as session:
                job = session.get(DueJob, job_id)
                if job is not None and job.claimed_by == worker_id:
                    job.last_error = f"{type(exc).__name__}: {exc}"[:1000]
                    backoff = min(timedelta(seconds=2 ** min(job.attempts, 10)),
                                  policy.notifications.backoff_max)
                    job.lease_until = ctx.now + backoff
        held.pop(0)
    return done
