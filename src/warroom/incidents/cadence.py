"""The cadence clock's due rows: a reminder before the next status update is due, and the due time itself."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from warroom.scheduler.models import DueJob
from warroom.scheduler.service import cancel, locked_rows


def incident_subject(incident_id: int) -> str:
    return f"incident:{incident_id}"


CADENCE_REMIND = "cadence_remind"
CADENCE_DUE = "cadence_due"


def schedule_cadence(
    session: Session, *, remind_before: timedelta, incident_id: int, next_due: datetime, now: datetime
) -> None:
    """The reminder before the due time and the due time itself, as two rows (one look-up, no flush)."""
    subject = incident_subject(incident_id)
    remind_at = max(now, next_due - remind_before)
    jobs = locked_rows(session, subject, [CADENCE_REMIND, CADENCE_DUE])
    for kind, due_at in ((CADENCE_REMIND, remind_at), (CADENCE_DUE, next_due)):
        job = jobs.get(kind)
        if job is None:
            job = DueJob(kind=kind, subject=subject, created_at=now, attempts=0)
            session.add(job)
        job.due_at, job.payload, job.done = due_at, {"due": next_due.isoformat()}, False
        job.lease_until, job.claimed_by = None, None


def cancel_cadence(session: Session, *, incident_id: int) -> None:
    subject = incident_subject(incident_id)
    cancel(session, kind=CADENCE_REMIND, subject=subject)
    cancel(session, kind=CADENCE_DUE, subject=subject)
