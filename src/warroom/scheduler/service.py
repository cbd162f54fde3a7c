"""Schedule and cancel due-time rows in the caller's transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from warroom.core import wake
from warroom.scheduler.models import DueJob


def schedule(
    session: Session,
    *,
    kind: str,
    subject: str,
    due_at: datetime,
    now: datetime,
    payload: dict[str, Any] | None = None,
) -> DueJob:
    """Create or move the one pending job for (kind, subject)."""
    job = session.scalar(select(DueJob).where(DueJob.kind == kind, DueJob.subject == subject).with_for_update())
    if job is None:
        job = DueJob(kind=kind, subject=subject, created_at=now, attempts=0)
        session.add(job)
    job.due_at = due_at
    job.payload = payload or {}
    job.done = False
    job.lease_until = None
    job.claimed_by = None
    if due_at <= now:
        wake.mark(session)  # due at once: the workers need not wait for their next poll
    session.flush()
    return job


def remember_locked(session: Session, subjects: list[str], jobs: Sequence[DueJob]) -> None:
    """Note the due rows of `subjects` this transaction has locked (a batch), so rescheduling skips the look-up."""
    known: dict[str, dict[str, DueJob]] = session.info.setdefault("locked_due_jobs", {})
    for subject in subjects:
        known.setdefault(subject, {})
    for job in jobs:
        known[job.subject][job.kind] = job


def locked_rows(session: Session, subject: str, kinds: list[str]) -> dict[str, DueJob]:
    """The due rows of `subject` (of `kinds`), locked: from the batch's note, or one query."""
    known = session.info.get("locked_due_jobs", {}).get(subject)
    if known is not None:
        return {kind: job for kind, job in known.items() if kind in kinds}
    return {
        job.kind: job
        for job in session.scalars(
            select(DueJob)
            .where(DueJob.subject == subject, DueJob.kind.in_(kinds))
            .order_by(DueJob.id)
            .with_for_update()
        )
    }


def cancel(session: Session, *, kind: str, subject: str) -> None:
    session.execute(delete(DueJob).where(DueJob.kind == kind, DueJob.subject == subject))
