"""Use cases of the mirror a person starts: put a stopped incident back in the mirror."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from warroom.core.errors import Conflict, NotFound
from warroom.datadog.models import DatadogMirror


def retry(session: Session, *, incident_id: int, now: datetime) -> DatadogMirror:
    """A dead row (Datadog refused a request) goes back to the queue with its latest state, once
    the cause is fixed; a deleted one is mirrored afresh (a new Datadog incident)."""
    row = session.get(DatadogMirror, incident_id, with_for_update=True)
    if row is None:
        raise NotFound(f"INC-{incident_id} is not mirrored to Datadog")
    if row.state not in ("dead", "deleted"):
        raise Conflict(f"INC-{incident_id}'s mirror is {row.state}, not dead or deleted", {"state": row.state})
    if row.state == "deleted":
        from warroom.incidents.models import Incident

        incident = session.get(Incident, incident_id)
        if incident is not None:
            incident.datadog_id, incident.datadog_public_id = None, None
        row.create_attempts, row.marker, row.postmortem_attached, row.todos = 0, None, False, []
    row.state = "linked" if row.state == "dead" and _linked(session, incident_id) else "pending"
    row.synced_version = min(row.synced_version, row.version - 1)
    row.attempts, row.next_attempt_at, row.lease_until, row.claimed_by = 0, now, None, None
    row.last_error = f"retried by hand; before: {row.last_error}" if row.last_error else None
    return row


def _linked(session: Session, incident_id: int) -> bool:
    from warroom.incidents.models import Incident

    incident = session.get(Incident, incident_id)
    return incident is not None and incident.datadog_id is not None
