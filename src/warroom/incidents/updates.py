"""Status updates and notes: what restarts the cadence clock and what only goes on the timeline
(keyword-only use cases, never commit)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from warroom.core.errors import Conflict, Invalid
from warroom.incidents import messages
from warroom.incidents.models import Incident, StatusUpdate, TimelineEntry
from warroom.incidents.service import acknowledge, add_timeline, notify, set_cadence
from warroom.notifications import service as outbox
from warroom.policy.schema import Policy

_FUTURE_SKEW = timedelta(seconds=60)


def post_update(
    session: Session,
    *,
    policy: Policy,
    now: datetime,
    actor: str,
    incident: Incident,
    message: str,
    automatic: bool = False,
    flush: bool = True,
) -> StatusUpdate:
    """Record a status update and restart the cadence clock from now (`flush=False`: the caller
    flushes later, e.g. a batch of automatic updates written together)."""
    if incident.state == "completed":
        raise Conflict(f"{incident.ref} is completed; no more status updates")
    due = incident.next_update_due_at
    update = StatusUpdate(
        incident_id=incident.id,
        message=message,
        state=incident.state,
        priority=incident.priority,
        severity=incident.severity,
        actor=actor,
        automatic=automatic,
        created_at=now,
        due_at=due,
        on_time=due is None or now <= due,
    )
    session.add(update)
    incident.last_update_at = now
    incident.updated_at = now
    if not automatic:
        incident.missed_updates = 0
        acknowledge(session, policy=policy, now=now, actor=actor, incident=incident)
        outbox.obsolete(
            session,
            incident_id=incident.id,
            now=now,
            reason=f"{actor} posted a status update",
            events=("reminder",),
            payload_match={"kind": "before_due"},
        )
    add_timeline(
        session,
        incident,
        now=now,
        actor=actor,
        kind="auto_update" if automatic else "status_update",
        text=message,
        data={"automatic": automatic, "on_time": update.on_time},
    )
    set_cadence(session, policy, incident, now, now)
    notify(
        session,
        policy,
        incident,
        now,
        "update",
        messages.update(
            incident.ref,
            incident.title,
            state=incident.state,
            priority=incident.priority,
            severity=incident.severity,
            actor=actor,
            message=message,
            next_due=incident.next_update_due_at,
            automatic=automatic,
        ),
        automatic=automatic,
    )
    if flush:
        session.flush()
    return update


def add_note(
    session: Session, *, now: datetime, actor: str, incident: Incident, text: str, occurred_at: datetime | None = None
) -> TimelineEntry:
    if occurred_at is not None:
        if occurred_at.tzinfo is None:
            raise Invalid("occurred_at needs a timezone (use ISO 8601 with Z or an offset)", {"field": "occurred_at"})
        if occurred_at > now + _FUTURE_SKEW:
            raise Invalid("occurred_at cannot be in the future", {"field": "occurred_at"})
    entry = add_timeline(
        session,
        incident,
        now=now,
        actor=actor,
        kind="note",
        text=text,
        occurred_at=occurred_at,
        data={"backdated": occurred_at is not None},
    )
    session.flush()
    return entry
