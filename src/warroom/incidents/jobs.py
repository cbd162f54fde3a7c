"""Cadence handlers for due-time rows: remind the commander, post the automatic update, escalate
(declared to the worker by `incidents.register`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from warroom.incidents import cadence, drafts, states, updates
from warroom.incidents import service as incidents
from warroom.incidents.models import Incident
from warroom.scheduler import runner
from warroom.scheduler.models import DueJob


def _live(session: Session, job: DueJob) -> tuple[Incident, datetime] | None:
    """The incident, if it is still open and this job is for its current due time."""
    incident = cadence.locked_incident(session, job.subject)
    if incident is None or incident.state not in states.OPEN_STATES or incident.next_update_due_at is None:
        return None
    due = datetime.fromisoformat(job.payload.get("due", "")) if job.payload.get("due") else None
    if due is not None and due != incident.next_update_due_at:
        return None
    return incident, incident.next_update_due_at


def _notify(
    session: Session,
    ctx: runner.JobContext,
    incident: Incident,
    event: str,
    text: str,
    mentions: dict[str, str],
    **extra: Any,
) -> None:
    """Through `incidents.notify`, so a missed update also edits the card (its next due time moved)."""
    incidents.notify(session, ctx.policy, incident, ctx.now, event, text, mentions=mentions, **extra)


def _draft_inputs(session: Session, ctx: runner.JobContext, incident: Incident) -> drafts.Inputs:
    """Draft inputs of every automatic update of the batch, read once (three queries for the batch)."""
    gathered: dict[int, drafts.Inputs] | None = session.info.get("draft_inputs")
    if gathered is None or incident.id not in gathered:
        locked = session.info.get("locked_incidents", {})
        batch = [
            locked[i]
            for i in {int(j.subject.split(":")[1]) for j in ctx.batch if j.kind == cadence.CADENCE_DUE}
            if i in locked and i != incident.id
        ]
        gathered = session.info["draft_inputs"] = drafts.gather(session, [incident, *batch])
    return gathered.pop(incident.id)


def remind(session: Session, ctx: runner.JobContext, job: DueJob) -> None:
    live = _live(session, job)
    if live is None:
        return
    incident, due = live
    who, names = incidents.mention(session, ctx.policy, incident.commander)
    # an absolute time only: "in 5m" would be stale if the message waited out a Slack outage
    text = (
        f":alarm_clock: {who} the next status update for {incident.ref} is due at "
        f"{due.strftime('%H:%M UTC')}. A draft is ready: {incidents.link(ctx.policy, incident)}"
    )
    _notify(session, ctx, incident, "reminder", text, names, kind="before_due", due=due.isoformat())
    incidents.add_timeline(
        session,
        incident,
        now=ctx.now,
        actor=incidents.SYSTEM,
        kind="reminder",
        text=f"Reminded {incident.commander}: update due {due.strftime('%H:%M UTC')}",
    )


def due(session: Session, ctx: runner.JobContext, job: DueJob) -> None:
    """The due time passed with no update: count the miss, post the automatic update, ping, escalate."""
    live = _live(session, job)
    if live is None:
        return
    incident, due_at = live
    incident.missed_updates += 1
    missed = incident.missed_updates
    incidents.add_timeline(
        session,
        incident,
        now=ctx.now,
        actor=incidents.SYSTEM,
        kind="missed_update",
        text=f"No status update by {due_at.strftime('%H:%M UTC')} ({missed} missed in a row)",
        data={"due": due_at.isoformat(), "missed": missed},
    )
    who, names = incidents.mention(session, ctx.policy, incident.commander)
    if ctx.policy.cadence.auto_update:
        draft = drafts.build(session, incident=incident, now=ctx.now, inputs=_draft_inputs(session, ctx, incident))
        updates.post_update(
            session,
            policy=ctx.policy,
            now=ctx.now,
            actor=incidents.SYSTEM,
            incident=incident,
            message=draft["text"],
            automatic=True,
            flush=False,
        )
        what = "warroom posted an automatic status update"
    else:
        incident.next_update_due_at = due_at + ctx.policy.cadence_for(incident.priority)
        cadence.schedule_cadence(
            session,
            remind_before=ctx.policy.cadence.remind_before,
            incident_id=incident.id,
            next_due=incident.next_update_due_at,
            now=ctx.now,
        )
        what = "no automatic update is configured"
    _notify(
        session,
        ctx,
        incident,
        "reminder",
        (
            f":warning: {who} the status update for {incident.ref} was due at {due_at.strftime('%H:%M UTC')}; "
            f"{what}. Missed in a row: {missed}. Please post an update."
        ),
        names,
        kind="missed",
        missed=missed,
    )
    backup = ctx.policy.cadence.backup_contact
    if backup and missed >= ctx.policy.cadence.escalate_after_missed:
        backup_who, backup_names = incidents.mention(session, ctx.policy, backup)
        _notify(
            session,
            ctx,
            incident,
            "escalation",
            (
                f":sos: {backup_who} {incident.ref} ({incident.priority} {incident.severity}, {incident.state}) has "
                f"missed {missed} status updates in a row; commander {incident.commander} is not responding. "
                f"Please take over or find a commander."
            ),
            {**names, **backup_names},
            missed=missed,
            backup=backup,
        )
        incidents.add_timeline(
            session,
            incident,
            now=ctx.now,
            actor=incidents.SYSTEM,
            kind="escalated",
            text=f"Escalated to {backup} after {missed} missed updates",
            data={"to": backup, "missed": missed},
        )
