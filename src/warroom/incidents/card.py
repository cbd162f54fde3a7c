"""The live incident card's data: what the Slack card shows, and a `card` outbox row for every Slack
channel that holds the incident's thread whenever state, priority, severity, commander or the next
due time changes (the worker edits the first message in place; a crash loses nothing)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from warroom.incidents import service as incidents
from warroom.incidents.models import Incident
from warroom.notifications import service as outbox
from warroom.notifications.card import CARD_EVENT
from warroom.notifications.models import Notification
from warroom.policy.schema import Policy

_QUEUED = "warroom.card_rows"  # session.info: (transaction, {incident id: its card rows}), via _queued
# events after which the card changes (an update moves the next due time)
CHANGES = frozenset(
    {
        "update",
        "state_changed",
        "priority_changed",
        "severity_changed",
        "resolved",
        "completed",
        "commander_changed",
        "acknowledged",
    }
)


def extra_fields(incident: Incident) -> list[tuple[str, str]]:
    """More (label, value) fields for the card: the Datadog incident it is mirrored to, once linked."""
    if incident.datadog_public_id is not None:
        return [("Datadog", f"incident #{incident.datadog_public_id}")]
    return []


def fields(session: Session, policy: Policy, incident: Incident) -> dict[str, Any]:
    names = [(svc.name if (svc := policy.service(s)) else s) for s in incident.services]
    return {
        "ref": incident.ref,
        "title": incident.title,
        "state": incident.state,
        "priority": incident.priority,
        "severity": incident.severity,
        "commander": incident.commander,
        "commander_slack_id": incidents.slack_id_of(session, incident.commander),
        "services": names,
        "next_due": incident.next_update_due_at.isoformat() if incident.next_update_due_at else None,
        "acknowledged": incident.acknowledged_at is not None,
        "link": incidents.link(policy, incident),
        "extra": extra_fields(incident),
    }


def channels(policy: Policy) -> list[str]:
    """The Slack channels (type slack) where the incident's first message lives."""
    return [name for name in policy.channels_for("declared") if policy.channels[name].type == "slack"]


def _queued(session: Session) -> dict[int, list[Notification]]:
    """The card rows this transaction queued, by incident (a new transaction starts empty)."""
    transaction = session.get_transaction()
    held = session.info.get(_QUEUED)
    if held is None or held[0] is not transaction:
        held = session.info[_QUEUED] = (transaction, {})
    rows: dict[int, list[Notification]] = held[1]
    return rows


def refresh(session: Session, *, policy: Policy, now: datetime, incident: Incident) -> None:
    """Queue an edit of the card; an older edit still queued is dropped (the newest shows all). A
    second change in the same transaction (acknowledged, then moved) rewrites the edit it queued."""
    targets = channels(policy)
    if not targets or incident.id is None:
        return
    payload = {"incident": incident.ref, "card": fields(session, policy, incident)}
    queued = _queued(session)
    if incident.id in queued and all(row.state == "pending" for row in queued[incident.id]):
        for row in queued[incident.id]:
            row.payload = payload  # still pending: nothing leaves before this transaction commits
        return
    outbox.obsolete(session, incident_id=incident.id, now=now, reason="a newer card", events=(CARD_EVENT,))
    queued[incident.id] = outbox.enqueue(
        session,
        policy=policy,
        now=now,
        event=CARD_EVENT,
        text=f"{incident.ref} card",
        incident_id=incident.id,
        payload=payload,
        channels=targets,
    )
