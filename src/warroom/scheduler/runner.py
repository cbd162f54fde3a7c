"""Claim due rows and run their handlers: the one mechanism behind every timed rule.

Domains declare a `JobSpec` per job kind through the wiring; a worker (or a test) calls
`run_due_jobs` with them.
Claims use FOR UPDATE SKIP LOCKED on PostgreSQL (many workers), BEGIN IMMEDIATE on SQLite.
Kinds registered with a `batch_lock` function run a claimed batch in one transaction: the lock
function takes the rows their handlers will lock, in one global order, first.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, sessionmaker

from warroom.core import outage
from warroom.core.clock import Clock
from warroom.core.hooks import Hooks
from warroom.core.uow import SYSTEM_ACTOR, UnitOfWork
from warroom.policy.schema import Policy
from warroom.scheduler import service as scheduler
from warroom.scheduler.models import DueJob

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class JobContext:
    policy: Policy
    now: datetime
    worker_id: str
    hooks: Hooks = field(default_factory=Hooks)
    batch: tuple[DueJob, ...] = ()  # every job of the batch being run (handlers may prefetch for all)


JobHandler = Callable[[Session, JobContext, DueJob], None]
BatchLock = Callable[[Session, list[str]], None]


@dataclass(frozen=True)
class JobSpec:
    """How to run jobs of one kind; a domain registers it (`registry.add_job`) and the worker runs it.

    `batch_lock(session, subjects)` makes the kind batchable: it must lock, in a fixed global order,
    every row the handlers lock before they touch any due row, so batches of two workers cannot deadlock.
    """

    handler: JobHandler
    batch_lock: BatchLock | None = None


Jobs = Mapping[str, JobSpec]


def claim(
    session: Session, *, now: datetime, worker_id: str, lease: timedelta, limit: int = 100
) -> list[tuple[int, datetime]]:
    """Lease up to `limit` due jobs to this worker; returns (id, due_at) pairs."""
    rows = session.scalars(
        select(DueJob)
        .where(
            DueJob.done.is_(False), DueJob.due_at <= now, or_(DueJob.lease_until.is_(None), DueJob.lease_until < now)
        )
        .order_by(DueJob.due_at, DueJob.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    for job in rows:
        job.lease_until = now + lease
        job.claimed_by = worker_id
        job.attempts += 1
    return [(job.id, job.due_at) for job in rows]


@dataclass(frozen=True)
class Runner:
    """What a worker runs due jobs with: the kinds it knows (from the wiring), policy, clock, hooks."""

    jobs: Jobs
    policy: Policy
    clock: Clock
    worker_id: str
    hooks: Hooks = field(default_factory=Hooks)

    def context(self, batch: tuple[DueJob, ...] = ()) -> JobContext:
        return JobContext(
            policy=self.policy, now=self.clock.now(), worker_id=self.worker_id, hooks=self.hooks, batch=batch
        )

    def batchable(self, kind: str) -> bool:
        spec = self.jobs.get(kind)
        return spec is not None and spec.batch_lock is not None

    def unit(self, sessions: sessionmaker[Session]) -> UnitOfWork:
        """A job's transaction: audited as `system` when a handler changed something."""
        return UnitOfWork(sessions, clock=self.clock, channel="system", actor=SYSTEM_ACTOR, audit="changes")


def run_one(
    session: Session,
    run: Runner,
    ctx: JobContext,
    job_id: int,
    claimed_due: datetime,
    job: DueJob | None = None,
    uow: UnitOfWork | None = None,
) -> bool:
    """Run one claimed job inside the caller's transaction; False if the claim went stale.

    `job`, when given, is the row already locked by the caller (batches lock them all at once)."""
    if job is None:
        job = session.scalar(select(DueJob).where(DueJob.id == job_id).with_for_update())
    if job is None or job.done or job.claimed_by != ctx.worker_id or job.due_at != claimed_due:
        return False  # rescheduled or taken over since we claimed it
    spec = run.jobs.get(job.kind)
    if spec is None:
        job.last_error = f"no handler registered for job kind '{job.kind}'"
        job.done = True
        log.error(job.last_error)
        return False
    if uow is not None:
        uow.note(f"job {job.kind}", job.subject)
    spec.handler(session, ctx, job)
    if job.claimed_by == ctx.worker_id and job.due_at == claimed_due and not job.done:
        job.done = True  # the handler did not reschedule it
        job.lease_until = None
    return True


def _failed(
    session: Session, job: DueJob | None, exc: Exception, *, worker_id: str, now: datetime, policy: Policy
) -> None:
    """Keep the claim but retry later, with backoff (the lease doubles as the retry time)."""
    if job is not None and job.claimed_by == worker_id:
        job.last_error = f"{type(exc).__name__}: {exc}"[:1000]
        backoff = min(timedelta(seconds=2 ** min(job.attempts, 10)), policy.notifications.backoff_max)
        job.lease_until = now + backoff


Claimed = tuple[int, str, str, datetime]  # id, kind, subject, due_at as claimed


def _run_alone(sessions: sessionmaker[Session], run: Runner, job: Claimed) -> int:
    """One job in its own transaction (batchable kinds still lock their subject first)."""
    job_id, kind, _, due = job
    ctx = run.context()
    try:
        uow = run.unit(sessions)
        with uow as session:
            if run.batchable(kind):
                return _run_batch(session, run, [job], uow)
            return int(run_one(session, run, ctx, job_id, due, uow=uow))
    except Exception as exc:  # noqa: BLE001 - a failing job must not stop the others
        if outage.is_outage(exc):
            raise  # the caller keeps it held; run_one re-checks the claim, so nothing is redone
        log.exception("job %s failed", job_id)
        with sessions.begin() as session:
            _failed(session, session.get(DueJob, job_id), exc, worker_id=run.worker_id, now=ctx.now, policy=run.policy)
        return 0


def _run_batch(session: Session, run: Runner, claimed: list[Claimed], uow: UnitOfWork) -> int:
    """Batchable jobs in one transaction: lock their subjects (global order), then the due rows, then
    run them; a failure raises (the caller then runs the jobs one by one, each in its own transaction)."""
    by_lock: dict[BatchLock, set[str]] = {}  # kinds sharing a lock function lock their subjects together
    for _, kind, subject, _ in claimed:
        lock = run.jobs[kind].batch_lock
        assert lock is not None
        by_lock.setdefault(lock, set()).add(subject)
    for lock, subjects in sorted(by_lock.items(), key=lambda item: item[0].__qualname__):
        lock(session, sorted(subjects))
    # then every batchable due row of those subjects, by id: handlers reschedule siblings without a query
    all_subjects = sorted({c[2] for c in claimed})
    kinds = sorted(kind for kind in run.jobs if run.batchable(kind))
    rows = session.scalars(
        select(DueJob)
        .where(DueJob.subject.in_(all_subjects), DueJob.kind.in_(kinds))
        .order_by(DueJob.id)
        .with_for_update()
    ).all()
    scheduler.remember_locked(session, all_subjects, rows)
    locked = {job.id: job for job in rows}
    ctx = run.context(batch=tuple(locked[c[0]] for c in claimed if c[0] in locked))
    with session.no_autoflush:  # one flush at commit, rows of a table inserted together
        return sum(
            run_one(session, run, ctx, job_id, due, job=locked.get(job_id), uow=uow) for job_id, _, _, due in claimed
        )


def run_due_jobs(
    sessions: sessionmaker[Session],
    run: Runner,
    *,
    lease: timedelta | None = None,
    limit: int = 100,
    held: list[Claimed] | None = None,
) -> int:
    """Claim a batch in one transaction, then run the batchable jobs together in one transaction
    and every other job in its own; a batch that fails as a whole is retried job by job.

    `held` carries claims across a database outage: a job whose transaction failed because the
    database went away stays in it (nothing of it was committed) and runs first next time."""
    now = run.clock.now()
    lease = lease or run.policy.notifications.lease
    held = held if held is not None else []
    done = 0
    if not held:
        with sessions.begin() as session:
            claimed = claim(session, now=now, worker_id=run.worker_id, lease=lease, limit=limit)
            rows = {job_id: session.get(DueJob, job_id) for job_id, _ in claimed}  # identity map
            kinds = {job_id: job.kind for job_id, job in rows.items() if job is not None}
            subjects = {job_id: job.subject for job_id, job in rows.items() if job is not None}
        jobs = [(job_id, kinds[job_id], subjects[job_id], due) for job_id, due in claimed if job_id in kinds]
        batch = [job for job in jobs if run.batchable(job[1])]
        if len(batch) > 1:
            try:
                uow = run.unit(sessions)
                with uow as session:
                    done += _run_batch(session, run, batch, uow)
                jobs = [job for job in jobs if not run.batchable(job[1])]
            except Exception as exc:  # noqa: BLE001 - e.g. a deadlock or a lost connection
                log.warning("batch of %d jobs failed (%s); running them one by one", len(batch), outage.one_line(exc))
        held.extend(sorted(jobs, key=lambda job: not run.batchable(job[1])))
    while held:
        done += _run_alone(sessions, run, held[0])
        held.pop(0)
    return done
