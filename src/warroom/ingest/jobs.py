"""Timed triage rules as due-row handlers: the 15-minute escalation and auto-resolve."""

from __future__ import annotations

from sqlalchemy import Table, func, select, update
from sqlalchemy.orm import Session

from warroom.alerts.models import Alert
from warroom.incidents import service as incidents
from warroom.incidents import states
from warroom.ingest import grouping
from warroom.policy.durations import format_duration
from warroom.scheduler import service as scheduler
from warroom.scheduler.models import DueJob
from warroom.scheduler.runner import JobContext
from warroom.triage import rules

A: Table = Alert.__table__  # type: ignore[assignment]


def escalate(session: Session, ctx: JobContext, job: DueJob) -> None:
    """Still firing after the window with impact unknown: raise to P1, then group or declare."""
    alert_id = int(job.subject.split(":", 1)[1])
    service = session.scalar(select(A.c.service).where(A.c.id == alert_id))
    if service is None:
        return
    grouping.lock_service(session, service)
    a = session.execute(select(A).where(A.c.id == alert_id).with_for_update(key_share=True)).mappings().one()
    if a["status"] != "firing" or a["users_hint"] is not None:
        return
    decision = rules.escalated(ctx.policy, tier=a["tier"], priority=a["priority"])
    if decision.value == a["priority"]:
        return
    session.execute(
        update(A)
        .where(A.c.id == alert_id)
        .values(priority=decision.value, priority_rule=decision.rule, priority_reason=decision.reason[:500])
    )
    grouping.place(session, policy=ctx.policy, now=ctx.now, alert_id=alert_id, hooks=ctx.hooks)


def autoresolve(session: Session, ctx: JobContext, job: DueJob) -> None:
    """Every alert recovered and quiet for the stability window: resolve (or stable first)."""
    policy, now = ctx.policy, ctx.now
    incident_id = int(job.subject.split(":", 1)[1])
    for service in sorted(set(session.scalars(select(A.c.service).where(A.c.incident_id == incident_id)))):
        grouping.lock_service(session, service)
    incident = incidents.get(session, incident_id, for_update=True)
    if incident.state not in states.OPEN_STATES:
        return
    if grouping.any_firing(session, policy, incident):
        return
    last = session.scalar(select(func.max(A.c.resolved_at)).where(A.c.incident_id == incident_id))
    window = policy.triage.stability_window
    if last is None:
        return
    if last + window > now:
        scheduler.schedule(
            session, kind=grouping.AUTORESOLVE, subject=job.subject, due_at=last + window, now=now, payload=job.payload
        )
        return
    alert_id = job.payload.get("alert_id")
    why = f"every alert recovered and stayed quiet for {format_duration(window)}" + (
        f" (last: alert {alert_id})" if alert_id else ""
    )
    if policy.triage.resolve_via_stable and incident.state == "active":
        incidents.transition(
            session,
            policy=policy,
            now=now,
            actor=incidents.SYSTEM,
            incident=incident,
            to="stable",
            reason=why,
            hooks=ctx.hooks,
        )
        scheduler.schedule(
            session, kind=grouping.AUTORESOLVE, subject=job.subject, due_at=now + window, now=now, payload=job.payload
        )
        return
    incidents.transition(
        session,
        policy=policy,
        now=now,
        actor=incidents.SYSTEM,
        incident=incident,
        to="resolved",
        reason=why,
        hooks=ctx.hooks,
    )
