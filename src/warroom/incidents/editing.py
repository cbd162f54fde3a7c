"""Editing an incident's fields and priority: the use cases behind PATCH, the edit forms and
the CLI's edit commands (keyword-only, never commit)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from warroom.core.errors import Conflict
from warroom.core.uow import SYSTEM_ACTOR as SYSTEM
from warroom.incidents import messages
from warroom.incidents.models import Incident, IncidentService
from warroom.incidents.schemas import IncidentPatch
from warroom.incidents.service import (
    acknowledge,
    add_timeline,
    check_roles,
    check_services,
    check_severity,
    notify,
    set_cadence,
)
from warroom.policy.schema import Policy

_PLAIN_FIELDS = (
    "title",
    "controller",
    "acknowledged_by_team",
    "tracking_issue",
    "sub_services",
    "users_impacted",
    "impacts",
    "detection_method",
    "monitors",
    "teams",
)


def patch(
    session: Session, *, policy: Policy, now: datetime, actor: str, incident: Incident, data: IncidentPatch
) -> Incident:
    if incident.state == "completed":
        raise Conflict(f"{incident.ref} is completed; it can no longer be edited")
    given = data.model_dump(exclude_unset=True)
    changes: list[str] = []
    for name in _PLAIN_FIELDS:
        if name in given and given[name] != getattr(incident, name):
            setattr(incident, name, given[name])
            changes.append(name)
    if "services" in given and given["services"] is not None:
        services = check_services(policy, given["services"])
        if services != incident.services:
            incident.service_links = [IncidentService(service=s, position=i) for i, s in enumerate(services)]
            changes.append("services")
    if "roles" in given and given["roles"] is not None:
        roles = check_roles(policy, given["roles"])
        if roles != incident.roles:
            incident.roles = roles
            changes.append("roles")
    if "pending_tasks" in given and given["pending_tasks"] is not None:
        incident.pending_tasks = [t.model_dump(mode="json") for t in data.pending_tasks or []]
        changes.append("pending_tasks")
    if given.get("commander") and given["commander"].strip().lower() != incident.commander:
        from warroom.incidents import command

        command.hand_over(session, policy=policy, now=now, actor=actor, incident=incident, to=given["commander"])
    if given.get("severity") and given["severity"] != incident.severity:
        old, incident.severity = incident.severity, check_severity(policy, given["severity"])
        add_timeline(
            session,
            incident,
            now=now,
            actor=actor,
            kind="severity_changed",
            text=f"Severity changed from {old} to {incident.severity}",
            data={"from": old, "to": incident.severity},
        )
        notify(
            session,
            policy,
            incident,
            now,
            "severity_changed",
            messages.changed(
                incident.ref, incident.title, what="severity", old=old, new=incident.severity, actor=actor
            ),
        )
    if given.get("priority") and given["priority"] != incident.priority:
        set_priority(
            session,
            policy=policy,
            now=now,
            actor=actor,
            incident=incident,
            priority=given["priority"],
            reason="changed by hand",
        )
    if changes:
        add_timeline(
            session,
            incident,
            now=now,
            actor=actor,
            kind="edited",
            text=f"Edited {', '.join(changes)}",
            data={"fields": changes},
        )
    if given.get("acknowledged_by_team") and actor != SYSTEM:
        acknowledge(session, policy=policy, now=now, actor=actor, incident=incident)
    incident.updated_at = now
    return incident


def set_priority(
    session: Session, *, policy: Policy, now: datetime, actor: str, incident: Incident, priority: str, reason: str
) -> None:
    """Change priority; the cadence follows the new priority from the last update."""
    old = incident.priority
    if old == priority:
        return
    incident.priority = priority
    incident.updated_at = now
    add_timeline(
        session,
        incident,
        now=now,
        actor=actor,
        kind="priority_changed",
        text=f"Priority changed from {old} to {priority}: {reason}",
        data={"from": old, "to": priority, "reason": reason},
    )
    start = incident.last_update_at or incident.declared_at
    cadence, current = policy.cadence_for(priority), incident.next_update_due_at
    if start + cadence <= now and current is not None and current > now:
        # That due time has passed and its miss was counted: never re-fire it; a shorter
        # cadence can only bring the next one closer.
        start = min(current, now + cadence) - cadence
    set_cadence(session, policy, incident, now, start)
    notify(
        session,
        policy,
        incident,
        now,
        "priority_changed",
        messages.changed(incident.ref, incident.title, what="priority", old=old, new=priority, actor=actor),
    )
    from warroom.incidents import escalation

    escalation.start(session, policy=policy, now=now, incident=incident)  # raised to a paging priority
