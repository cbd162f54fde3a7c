"""The OOB postmortem reminder, a due-time row (declared to the worker by `deploys.register`)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from warroom.deploys import service as oob
from warroom.deploys.models import OobRequest
from warroom.incidents import service as incidents
from warroom.incidents.models import Incident
from warroom.scheduler.models import DueJob
from warroom.scheduler.runner import JobContext


def postmortem_due(session: Session, ctx: JobContext, job: DueJob) -> None:
    """Two business days after deployment: remind the channel if the postmortem is not done."""
    row = session.get(OobRequest, int(job.payload.get("oob", 0)))
    if row is None or row.postmortem_done_at is not None or row.state in ("rejected", "cancelled"):
        return
    incident = session.get(Incident, row.incident_id)
    if incident is None:
        return
    days = ctx.policy.oob.postmortem_due_business_days
    text = (
        f":memo: {row.ref} ({incident.ref}) was deployed out of band "
        f"{row.deployed_at:%Y-%m-%d %H:%M UTC} and its postmortem is not done after "
        f"{days} business days; requester: {row.requested_by or row.created_by}"
    )
    incidents.add_timeline(
        session,
        incident,
        now=ctx.now,
        actor=incidents.SYSTEM,
        kind="oob",
        text=text,
        data={"oob": row.ref, "reminder": "postmortem_due"},
    )
    oob.notify(session, ctx.policy, incident, row, ctx.now, text, reminder="postmortem_due")
