"""The cadence clock's due rows: a reminder before the next status update is due, and the due time itself."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from warroom.incidents.models import Incident
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


def lock_incidents(session: Session, subjects: list[str]) -> None:
    """Batch lock for cadence jobs: their incidents, by id, before any due row (as the API does)."""
    ids = sorted({int(s.split(":")[1]) for s in subjects})
    rows = session.scalars(select(Incident).where(Incident.id.in_(ids)).order_by(Incident.id).with_for_update())
    session.info.setdefault("locked_incidents", {}).update({row.id: row for row in rows})


def locked_incident(session: Session, subject: str) -> Incident | None:
    """The incident of a due row's subject (`incident:<id>`), locked: by the batch lock above, else now."""
    incident_id = int(subject.split(":")[1])
    incident: Incident | None = session.info.get("locked_incidents", {}).get(incident_id)
    if incident is None:
        incident = session.scalar(select(Incident).where(Incident.id == incident_id).with_for_update())
    return incident
