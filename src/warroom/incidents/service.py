"""Incident use cases; keyword-only, take a session, never commit (the entry point does)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from warroom.core import refs
from warroom.core.errors import Conflict, Invalid, NotFound
from warroom.core.hooks import Hooks
from warroom.core.uow import SYSTEM_ACTOR, channel_of
from warroom.incidents import cadence, messages, states
from warroom.incidents.models import Incident, IncidentService, TimelineEntry
from warroom.incidents.schemas import IncidentCreate
from warroom.notifications import service as outbox
from warroom.policy.durations import format_duration
from warroom.policy.schema import Policy
from warroom.users.models import User

SYSTEM = SYSTEM_ACTOR


def parse_ref(ref: str | int) -> int:
    return refs.number(ref)


def get(session: Session, ref: str | int, *, for_update: bool = False) -> Incident:
    stmt = select(Incident).where(Incident.id == parse_ref(ref))
    if for_update:
        stmt = stmt.with_for_update()
    incident = session.scalar(stmt)
    if incident is None:
        raise NotFound(f"no incident {ref}")
    return incident


def mention(session: Session, policy: Policy, handle: str) -> tuple[str, dict[str, str]]:
    """How a message names a person or team: a Slack user group from the policy (`<!subteam^ID>`),
    an active user with a Slack id (`<@U123>`), else `@handle` (a deactivated person is never
    pinged). The second value goes in the row's `mentions` (other channels show the handle)."""
    group = policy.notifications.slack_groups.get(handle)
    if group:
        return f"<!subteam^{group}>", {f"!subteam^{group}": handle}
    slack_id = slack_id_of(session, handle)
    if slack_id:
        return f"<@{slack_id}>", {slack_id: handle}
    return f"@{handle}", {}


def slack_id_of(session: Session, handle: str) -> str | None:
    """An active user's Slack id (a deactivated person is never pinged); one look-up per handle
    per session (a declaration, its card and its messages all ask)."""
    known: dict[str, str | None] = session.info.setdefault("slack_ids", {})
    if handle not in known:
        row = session.execute(select(User.slack_id, User.active).where(User.handle == handle)).first()
        known[handle] = row.slack_id if row is not None and row.active else None
    return known[handle]


def link(policy: Policy, incident: Incident) -> str:
    return f"{policy.notifications.base_url.rstrip('/')}/incidents/{incident.ref}"


def message_fields(policy: Policy, incident: Incident) -> dict[str, Any]:
    """The fields every outbox message about an incident carries (channels render them alike)."""
    return {
        "incident": incident.ref,
        "title": incident.title,
        "state": incident.state,
        "priority": incident.priority,
        "severity": incident.severity,
        "commander": incident.commander,
        "link": link(policy, incident),
    }


def check_services(policy: Policy, services: list[str]) -> list[str]:
    known = {s.key for s in policy.services} | {policy.triage.fallback_service}
    unknown = [s for s in services if s not in known]
    if unknown:
        raise Invalid(
            f"unknown service(s): {', '.join(unknown)}",
            {"field": "services", "known": sorted(known)},
        )
    return list(dict.fromkeys(services))


def check_severity(policy: Policy, severity: str) -> str:
    if severity not in policy.severity_keys():
        raise Invalid(
            f"unknown severity '{severity}'",
            {"field": "severity", "allowed": policy.severity_keys()},
        )
    return severity


def check_roles(policy: Policy, roles: dict[str, str]) -> dict[str, str]:
    bad = [r for r in roles if r not in policy.roles or r == "commander"]
    if bad:
        raise Invalid(
            f"unknown role(s): {', '.join(bad)} (the commander has its own field)",
            {"field": "roles", "allowed": [r for r in policy.roles if r != "commander"]},
        )
    return {k: v.strip() for k, v in roles.items() if v and v.strip()}


def default_title(policy: Policy, services: list[str], priority: str) -> str:
    names = [(policy.service(s).name if policy.service(s) else s) for s in services]  # type: ignore[union-attr]
    return policy.title_template.format(
        service=", ".join(names), services=", ".join(names), priority=priority, title=""
    )


def add_timeline(
    session: Session,
    incident: Incident,
    *,
    now: datetime,
    actor: str,
    kind: str,
    text: str,
    occurred_at: datetime | None = None,
    data: dict[str, Any] | None = None,
) -> TimelineEntry:
    entry = TimelineEntry(
        incident_id=incident.id,
        occurred_at=occurred_at or now,
        recorded_at=now,
        kind=kind,
        actor=actor,
        text=text,
        data=data or {},
        via=channel_of(session),
    )
    session.add(entry)
    return entry


def set_cadence(session: Session, policy: Policy, incident: Incident, now: datetime, start: datetime) -> None:
    """Next update is due one cadence after `start`; only open incidents have a cadence."""
    if incident.state in states.OPEN_STATES:
        incident.next_update_due_at = start + policy.cadence_for(incident.priority)
        cadence.schedule_cadence(
            session,
            remind_before=policy.cadence.remind_before,
            incident_id=incident.id,
            next_due=incident.next_update_due_at,
            now=now,
        )
    else:
        incident.next_update_due_at = None
        cadence.cancel_cadence(session, incident_id=incident.id)


def notify(
    session: Session, policy: Policy, incident: Incident, now: datetime, event: str, text: str, **payload: Any
) -> None:
    """Enqueue `event` for the incident with the fields every message's payload carries; the
    declaration carries the live card, and a change the card shows queues its edit (incidents.card)."""
    from warroom.incidents import card

    if event == "declared":
        payload["card"] = card.fields(session, policy, incident)
    outbox.enqueue(
        session,
        policy=policy,
        now=now,
        event=event,
        text=text,
        incident_id=incident.id,
        payload={**message_fields(policy, incident), **payload},
    )
    if event in card.CHANGES or (event == "reminder" and payload.get("kind") == "missed"):
        card.refresh(session, policy=policy, now=now, incident=incident)
    if policy.slack.incident_channels.priorities:
        from warroom.incidents import room

        room.follow(session, policy=policy, now=now, incident=incident, event=event)


def declare(
    session: Session,
    *,
    policy: Policy,
    now: datetime,
    actor: str,
    data: IncidentCreate,
    automatic: bool = False,
    first_alert_at: datetime | None = None,
    reason: str | None = None,
) -> Incident:
    from warroom.incidents import command, escalation, linking

    services = check_services(policy, data.services)
    severity = check_severity(policy, data.severity)
    commander = (data.commander or actor).strip()
    if not automatic:  # a person declares: the commander is a person who may command
        commander = command.check(session, policy=policy, handle=commander)
    else:  # the level-1 person of the service's escalation policy, when there is one who may command
        commander = escalation.level_one_commander(session, policy, services=services, at=now) or commander
    monitors, detection, tier = data.monitors or [], data.detection_method, None
    if data.alerts:  # declared from alerts: they say what detected it, when it started, its environment
        filled_monitors, filled_detection, started, tier = linking.declaration_fields(session, data.alerts)
        monitors, detection = monitors or filled_monitors, detection or filled_detection
        first_alert_at = min(first_alert_at, started) if first_alert_at else started
    incident = Incident(
        title=data.title or default_title(policy, services, data.priority),
        state="active",
        priority=data.priority,
        severity=severity,
        commander=commander,
        declared_by=actor,
        roles=check_roles(policy, data.roles or {}),
        monitors=monitors,
        teams=data.teams or [],
        controller=data.controller,
        acknowledged_by_team=bool(data.acknowledged_by_team),
        tracking_issue=data.tracking_issue,
        sub_services=data.sub_services,
        users_impacted=data.users_impacted,
        impacts=data.impacts,
        detection_method=detection,
        pending_tasks=[t.model_dump(mode="json") for t in data.pending_tasks or []],
        declared_automatically=automatic,
        tier=tier,
        first_alert_at=first_alert_at,
        declared_at=now,
        acknowledged_at=None if automatic else now,
        missed_updates=0,
        updated_at=now,
    )
    incident.service_links = [IncidentService(service=s, position=i) for i, s in enumerate(services)]
    session.add(incident)
    session.flush()
    how = "automatically" if automatic else f"by {actor}"
    text = f"Incident declared {how}: {incident.priority} {incident.severity}, commander {incident.commander}"
    if reason:
        text += f". Reason: {reason}"
    add_timeline(
        session,
        incident,
        now=now,
        actor=actor,
        kind="declared",
        text=text,
        data={"priority": incident.priority, "severity": incident.severity},
    )
    if data.alerts:
        linking.attach(session, now=now, actor=actor, incident=incident, alert_ids=data.alerts, declaring=True)
    set_cadence(session, policy, incident, now, now)
    unassigned = command.note_unassigned(session, policy=policy, now=now, incident=incident) if automatic else None
    commander, mentions = mention(session, policy, incident.commander)
    if unassigned:
        commander += f" (cannot command: {unassigned}; hand over command to a person)"
    notify(
        session,
        policy,
        incident,
        now,
        "declared",
        messages.declared(
            incident.ref,
            incident.title,
            state=incident.state,
            priority=incident.priority,
            severity=incident.severity,
            commander=commander,
            services=services,
            next_due=incident.next_update_due_at,
            link=link(policy, incident),
        ),
        mentions=mentions,
    )
    escalation.start(session, policy=policy, now=now, incident=incident, new=True)
    return incident


def acknowledge(session: Session, *, policy: Policy, now: datetime, actor: str, incident: Incident) -> bool:
    """First human acknowledgement wins (escalation stops, the pager is told); later calls change
    nothing. The one use case behind the API, the CLI, the web button and Slack's button;
    the caller holds the incident's row lock (`get(..., for_update=True)`)."""
    from warroom.incidents import escalation

    if incident.acknowledged_at is not None:
        return False
    incident.acknowledged_at = now
    incident.updated_at = now
    level = escalation.acknowledged(session, policy=policy, now=now, actor=actor, incident=incident)
    add_timeline(
        session,
        incident,
        now=now,
        actor=actor,
        kind="acknowledged",
        text=f"Acknowledged by {actor}" + (f" (level {level} paged)" if level else ""),
        data={"level": level} if level else None,
    )
    from warroom.incidents import card

    card.refresh(session, policy=policy, now=now, incident=incident)
    return True


def completion_missing(session: Session, *, policy: Policy, incident: Incident) -> list[str]:
    from warroom.incidents import postmortems

    current = postmortems.current(session, incident_id=incident.id)
    return states.missing_for_completion(
        required=list(policy.completion.required_fields),
        users_impacted=incident.users_impacted,
        impacts=incident.impacts,
        detection_method=incident.detection_method,
        postmortem=current.markdown if current else None,
    )


def transition(
    session: Session,
    *,
    policy: Policy,
    now: datetime,
    actor: str,
    incident: Incident,
    to: str,
    reason: str | None = None,
    hooks: Hooks,
) -> Incident:
    """Move along the transition table; `completed` only by the commander with the work done.
    `hooks`: what resolving needs from other domains (the postmortem's sections)."""
    from warroom.incidents import postmortems

    old = incident.state
    states.check_transition(old, to)
    if to == "completed":
        problems = []
        if policy.completion.commander_only and actor != incident.commander:
            problems.append(f"only the commander ({incident.commander}) can complete")
        problems += completion_missing(session, policy=policy, incident=incident)
        if problems:
            raise Conflict(f"{incident.ref} cannot be completed yet", {"missing": problems})
    incident.state = to
    incident.updated_at = now
    stamp = states.STAMPS.get(to)
    if stamp and getattr(incident, stamp) is None:
        setattr(incident, stamp, now)
    if to == "resolved":
        incident.resolved_at = now
    if actor != SYSTEM:
        acknowledge(session, policy=policy, now=now, actor=actor, incident=incident)
    text = f"State changed from {old} to {to}" + (f": {reason}" if reason else "")
    add_timeline(
        session,
        incident,
        now=now,
        actor=actor,
        kind="state_changed",
        text=text,
        data={"from": old, "to": to, "reason": reason},
    )
    if (to in states.OPEN_STATES) != (old in states.OPEN_STATES):
        set_cadence(session, policy, incident, now, now)  # reopened: clock restarts; closed: stops
    if old in states.OPEN_STATES and to not in states.OPEN_STATES:
        # reminders, escalations and automatic updates still queued speak of an open incident
        outbox.obsolete(
            session,
            incident_id=incident.id,
            now=now,
            reason=f"{incident.ref} was {to}",
            events=("reminder", "escalation"),
            automatic_updates=True,
        )
    if to == "resolved":
        from warroom.incidents import escalation

        escalation.resolved(session, policy=policy, now=now, incident=incident)
        postmortems.generate(
            session, policy=policy, now=now, actor=SYSTEM, incident=incident, automatic=True, hooks=hooks
        )
        notify(
            session,
            policy,
            incident,
            now,
            "resolved",
            messages.resolved(
                incident.ref,
                incident.title,
                actor=actor,
                duration=format_duration(now - incident.declared_at),
                postmortem_link=link(policy, incident) + "/postmortem",
            ),
        )
    elif to == "completed":
        notify(
            session,
            policy,
            incident,
            now,
            "completed",
            messages.completed(
                incident.ref,
                incident.title,
                actor=actor,
                link=link(policy, incident),
                duration=format_duration(
                    (incident.resolved_at or now) - (incident.first_alert_at or incident.declared_at)
                ),
                severity=incident.severity,
                priority=incident.priority,
                impacts=incident.impacts,
                users_impacted=incident.users_impacted,
                postmortem_link=link(policy, incident) + "/postmortem",
            ),
        )
    else:
        notify(
            session,
            policy,
            incident,
            now,
            "state_changed",
            messages.changed(incident.ref, incident.title, what="state", old=old, new=to, actor=actor),
        )
    return incident
