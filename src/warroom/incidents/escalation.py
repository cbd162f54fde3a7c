"""Paging an incident's escalation policy: level 1 at declaration, the next level when nobody
acknowledged within the level's timeout (a due-time row), acknowledge and resolve to the pager.

Every step runs under the incident's row lock and writes an `incident_pages` row unique per
(incident, level), so a level is paged once whichever node runs the step, and a step that went
stale (acknowledged, resolved, a newer step) does nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from warroom.incidents import cadence, states
from warroom.incidents.cadence import incident_subject
from warroom.incidents.models import EscalationPage, Incident
from warroom.notifications import service as outbox
from warroom.oncall import service as oncall
from warroom.oncall.service import Target
from warroom.policy.durations import format_duration
from warroom.policy.schema import Policy
from warroom.scheduler import service as scheduler
from warroom.scheduler.models import DueJob
from warroom.scheduler.runner import JobContext

ESCALATE = "page_escalate"
PAGE = "page"
FOLLOW_UP_TYPES = frozenset({"pagerduty", "webhook"})  # channels told of acknowledge and resolve too


def dedup_key(incident: Incident) -> str:
    """One per incident: PagerDuty groups trigger, acknowledge and resolve of one incident by it."""
    return f"warroom-{incident.ref}"


def policy_of(policy: Policy, services: list[str]) -> str | None:
    """The escalation policy of the first of `services` that names one."""
    for key in services:
        svc = policy.service(key)
        if svc is not None and svc.escalation_policy:
            return svc.escalation_policy
    return None


def level_one_commander(session: Session, policy: Policy, *, services: list[str], at: datetime) -> str | None:
    """The level-1 person of the services' escalation policy, if they may command (a real user)."""
    from warroom.incidents import command

    name = policy_of(policy, services)
    if name is None:
        return None
    target = oncall.level_target(session, policy, escalation_policy=name, level=1, at=at)
    for user in target.users if target else []:
        if command.problem(session, policy=policy, handle=user.handle) is None:
            return user.handle
    return None


def pages(session: Session, incident_id: int) -> list[EscalationPage]:
    return list(
        session.scalars(
            select(EscalationPage).where(EscalationPage.incident_id == incident_id).order_by(EscalationPage.level)
        )
    )


def start(session: Session, *, policy: Policy, now: datetime, incident: Incident, new: bool = False) -> bool:
    """Page level 1 if the incident is unacknowledged, its priority pages and a service names a policy
    (`new`: declared in this transaction, so nothing was paged yet)."""
    name = policy_of(policy, incident.services)
    if (
        name is None
        or name not in policy.escalation_policies
        or incident.acknowledged_at is not None
        or incident.priority not in policy.paging.priorities
        or incident.state not in states.OPEN_STATES
    ):
        return False
    if not new and session.scalar(select(EscalationPage.id).where(EscalationPage.incident_id == incident.id).limit(1)):
        return False  # already paging (a priority went down and up again)
    page_level(session, policy=policy, now=now, incident=incident, escalation_policy=name, level=1, checked=True)
    return True


def _channels(policy: Policy, action: str) -> list[str]:
    routed = policy.channels_for(PAGE)
    if action == "trigger":
        return routed
    return [c for c in routed if c in policy.channels and policy.channels[c].type in FOLLOW_UP_TYPES]


def _send(
    session: Session, *, policy: Policy, now: datetime, incident: Incident, action: str, text: str, **extra: Any
) -> None:
    from warroom.incidents import service as incidents

    channels = _channels(policy, action)
    if not channels:
        return
    outbox.enqueue(
        session,
        policy=policy,
        now=now,
        event=PAGE,
        text=text,
        incident_id=incident.id,
        channels=channels,
        payload={
            **incidents.message_fields(policy, incident),
            "services": incident.services,
            "action": action,
            "dedup_key": dedup_key(incident),
            "pd_severity": policy.paging.pagerduty_severity.get(incident.priority, "critical"),  # type: ignore[call-overload]
            **extra,
        },
    )


def page_level(
    session: Session,
    *,
    policy: Policy,
    now: datetime,
    incident: Incident,
    escalation_policy: str,
    level: int,
    checked: bool = False,
) -> EscalationPage | None:
    """Page one level (once), and schedule the next step at its acknowledgement timeout
    (`checked`: the caller knows no level was paged yet, under the same lock)."""
    from warroom.incidents import service as incidents

    paged = select(EscalationPage.id).where(EscalationPage.incident_id == incident.id, EscalationPage.level == level)
    if not checked and session.scalar(paged) is not None:
        return None  # this level was paged already: never twice (asked before the on-call look-up)
    found = oncall.level_target(session, policy, escalation_policy=escalation_policy, level=level, at=now)
    subject = incident_subject(incident.id)
    if found is None:
        levels = len(policy.escalation_policies[escalation_policy].levels)
        incidents.add_timeline(
            session,
            incident,
            now=now,
            actor=incidents.SYSTEM,
            kind="escalation_exhausted",
            text=f"Nobody acknowledged: all {levels} levels of {escalation_policy} were paged",
            data={"escalation_policy": escalation_policy, "levels": levels},
        )
        return None
    target: Target = found
    handles = [u.handle for u in target.users]
    row = EscalationPage(
        incident_id=incident.id,
        escalation_policy=escalation_policy,
        level=level,
        users=handles,
        schedule=target.schedule,
        paged_at=now,
        ack_due_at=now + target.ack_timeout if handles else now,
    )
    session.add(row)
    where = f" ({target.schedule})" if target.schedule else ""
    if handles:
        names = [incidents.mention(session, policy, h) for h in handles]
        mentions = {k: v for _, m in names for k, v in m.items()}
        who = ", ".join(n for n, _ in names)
        text = (
            f":rotating_light: Paging {who} for {incident.ref} {incident.title} ({incident.priority} "
            f"{incident.severity}): level {level} of {escalation_policy}{where}; acknowledge within "
            f"{format_duration(target.ack_timeout)} or level {level + 1} is paged"
        )
        emails = [u.email for u in target.users if u.email] if policy.paging.email_paged else []
        _send(
            session,
            policy=policy,
            now=now,
            incident=incident,
            action="trigger",
            text=text,
            mentions=mentions,
            level=level,
            paged=handles,
            paged_emails=emails,
        )
        timeline = (
            f"Paged {', '.join(handles)}: level {level} of {escalation_policy}{where}, "
            f"acknowledge within {format_duration(target.ack_timeout)}"
        )
    else:
        timeline = f"Level {level} of {escalation_policy}{where}: nobody is on call, paging the next level"
    incidents.add_timeline(
        session,
        incident,
        now=now,
        actor=incidents.SYSTEM,
        kind="paged",
        text=timeline,
        data={"level": level, "users": handles, "escalation_policy": escalation_policy, "schedule": target.schedule},
    )
    scheduler.schedule(
        session,
        kind=ESCALATE,
        subject=subject,
        due_at=row.ack_due_at,
        now=now,
        payload={"level": level + 1, "escalation_policy": escalation_policy},
    )
    return row


def acknowledged(session: Session, *, policy: Policy, now: datetime, actor: str, incident: Incident) -> int | None:
    """The incident was acknowledged: stop escalating, mark the level paged last, tell the pager.
    Returns the level acknowledged (None: nothing was paged)."""
    scheduler.cancel(session, kind=ESCALATE, subject=incident_subject(incident.id))
    paged = pages(session, incident.id)
    if not paged:
        return None
    _drop_waiting_pages(session, incident=incident, now=now, reason=f"acknowledged by {actor}")
    last = paged[-1]
    if last.acknowledged_at is None:
        last.acknowledged_at, last.acknowledged_by = now, actor
    _send(
        session,
        policy=policy,
        now=now,
        incident=incident,
        action="acknowledge",
        text=f"{incident.ref} acknowledged by {actor} (level {last.level} of {last.escalation_policy})",
        level=last.level,
        acknowledged_by=actor,
    )
    return last.level


def _drop_waiting_pages(session: Session, *, incident: Incident, now: datetime, reason: str) -> None:
    """Pages not sent yet (a Slack outage) would ask someone to act on what is already handled:
    dropped; a PagerDuty trigger still in flight is followed by the acknowledge or resolve."""
    outbox.obsolete(
        session, incident_id=incident.id, now=now, reason=reason, events=(PAGE,), payload_match={"action": "trigger"}
    )


def resolved(session: Session, *, policy: Policy, now: datetime, incident: Incident) -> None:
    """Resolved: no more steps; the pager resolves its alert."""
    scheduler.cancel(session, kind=ESCALATE, subject=incident_subject(incident.id))
    if pages(session, incident.id):
        _drop_waiting_pages(session, incident=incident, now=now, reason=f"{incident.ref} was resolved")
        _send(session, policy=policy, now=now, incident=incident, action="resolve", text=f"{incident.ref} resolved")


def step(session: Session, ctx: JobContext, job: DueJob) -> None:
    """A level's acknowledgement timeout ran out: page the next level, unless it is no longer needed."""
    incident = cadence.locked_incident(session, job.subject)
    if incident is None or incident.state not in states.OPEN_STATES or incident.acknowledged_at is not None:
        return
    name = str(job.payload.get("escalation_policy", ""))
    if name not in ctx.policy.escalation_policies or incident.priority not in ctx.policy.paging.priorities:
        return  # the policy changed, or the priority went down to one that only posts: no next level
    page_level(
        session,
        policy=ctx.policy,
        now=ctx.now,
        incident=incident,
        escalation_policy=name,
        level=int(job.payload["level"]),
    )
