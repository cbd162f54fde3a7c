"""The worker's half of the mirror: claim dirty incidents, send each one's latest state, record the outcome.

One row per incident is the queue (ordered per incident: one lease at a time; coalesced: whatever
changed since, one PATCH of the latest state). At least once, but never a second Datadog incident:
the claim records that a create is being tried before it is sent, so a retry after a timeout, a
5xx or a killed worker first searches Datadog for the row's marker and adopts what it finds."""

from __future__ import annotations

import logging
import os
import socket
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from warroom.core.hooks import WorkerContext
from warroom.datadog import client, rules
from warroom.datadog.client import Api, AuthFailed, Created, DatadogError, Gone, Refused, Retry
from warroom.datadog.models import DatadogMirror, DatadogPause, DatadogUser
from warroom.incidents import postmortems
from warroom.incidents import service as incidents
from warroom.incidents.models import Incident
from warroom.notifications import rules as delivery_rules
from warroom.policy.schema import Policy
from warroom.users.models import User

log = logging.getLogger(__name__)
WORKER_ID = f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
USER_CACHE = timedelta(days=1)


@dataclass
class Job:
    incident_id: int
    version: int
    attempts: int
    datadog_id: str | None
    public_id: int | None
    marker: str
    search_first: bool
    snap: rules.Snapshot
    commander_id: str | None
    commander_cached: bool
    postmortem: bool
    todos: list[str] = field(default_factory=list)


@dataclass
class Outcome:
    created: Created | None = None
    commander_id: str | None = None
    looked_up: bool = False
    error: DatadogError | Exception | None = None


def _commander(session: Session, incident: Incident, now: datetime) -> tuple[str | None, str | None, bool]:
    """(email, cached Datadog user id, whether the cache answered)."""
    email = session.scalar(select(User.email).where(User.handle == incident.commander))
    if not email:
        return None, None, True
    cached = session.get(DatadogUser, email.lower())
    if cached is not None and cached.fetched_at > now - USER_CACHE:
        return email, cached.user_id, True
    return email, None, False


def _snapshot(session: Session, policy: Policy, incident: Incident, email: str | None) -> rules.Snapshot:
    tasks = [str(t.get("title") or t.get("text") or "") for t in incident.pending_tasks or [] if not t.get("done")]
    pm = postmortems.current(session, incident_id=incident.id) if incident.state in ("resolved", "completed") else None
    link = incidents.link(policy, incident)
    return rules.Snapshot(
        id=incident.id,
        ref=incident.ref,
        title=incident.title,
        state=incident.state,
        severity=incident.severity,
        priority=incident.priority,
        commander=incident.commander,
        commander_email=email,
        users_impacted=incident.users_impacted,
        impacts=incident.impacts,
        declared_at=incident.declared_at,
        first_alert_at=incident.first_alert_at,
        resolved_at=incident.resolved_at,
        link=link,
        tasks=[t for t in tasks if t],
        postmortem_url=f"{link}/postmortem" if pm is not None else None,
    )


def claim(session: Session, *, policy: Policy, now: datetime, limit: int) -> list[Job]:
    """Lease dirty rows whose coalescing window has passed; a create is counted before it is sent."""
    rows = session.scalars(
        select(DatadogMirror)
        .where(
            DatadogMirror.state.in_(("pending", "linked")),
            DatadogMirror.version > DatadogMirror.synced_version,
            or_(DatadogMirror.next_attempt_at.is_(None), DatadogMirror.next_attempt_at <= now),
            or_(DatadogMirror.lease_until.is_(None), DatadogMirror.lease_until < now),
        )
        .order_by(DatadogMirror.incident_id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    jobs = []
    for row in rows:
        incident = session.get(Incident, row.incident_id)
        if incident is None:
            continue
        linked = incident.datadog_id is not None
        if not linked and (incident.priority not in policy.datadog.priorities or incident.state == "completed"):
            row.synced_version = row.version  # not ours to mirror (yet): a later change looks again
            continue
        if row.noticed_at is None and policy.datadog.coalesce:
            row.noticed_at, row.next_attempt_at = now, now + policy.datadog.coalesce
            continue
        row.lease_until, row.claimed_by = now + policy.notifications.lease, WORKER_ID
        row.attempts += 1
        if not linked:
            row.marker = row.marker or f"warroom-{incident.ref}-{uuid.uuid4().hex[:16]}"
            row.create_attempts += 1
        email, commander_id, cached = _commander(session, incident, now)
        snap = _snapshot(session, policy, incident, email)
        jobs.append(
            Job(
                incident_id=incident.id,
                version=row.version,
                attempts=row.attempts,
                datadog_id=incident.datadog_id,
                public_id=incident.datadog_public_id,
                marker=row.marker or "",
                search_first=not linked and row.create_attempts > 1,
                snap=snap,
                commander_id=commander_id,
                commander_cached=cached,
                postmortem=snap.postmortem_url is not None and not row.postmortem_attached,
                todos=[t for t in snap.tasks if t not in (row.todos or [])] if policy.datadog.todos else [],
            )
        )
    return jobs


def send(api: Api, job: Job) -> Outcome:
    """Outside any transaction: create (or adopt) once, then PATCH the latest full state."""
    out = Outcome(commander_id=job.commander_id)
    try:
        if not job.commander_cached and job.snap.commander_email:
            out.commander_id = api.user_id(job.snap.commander_email)
            out.looked_up = True
        datadog_id = job.datadog_id
        if datadog_id is None:
            found = api.search(job.marker) if job.search_first else []
            if found:
                log.info("datadog: %s was created by an earlier attempt (%s): adopted", job.snap.ref, found[0].id)
            out.created = (
                found[0]
                if found
                else api.create(rules.create_body(job.snap, marker=job.marker, commander_id=out.commander_id))
            )
            datadog_id = out.created.id
        api.patch(datadog_id, rules.patch_body(job.snap, datadog_id=datadog_id, commander_id=out.commander_id))
        if job.postmortem and job.snap.postmortem_url:
            api.attach_postmortem(datadog_id, job.snap.postmortem_url, f"Postmortem of {job.snap.ref}")
        for todo in job.todos:
            api.add_todo(datadog_id, todo)
    except Exception as exc:  # noqa: BLE001 - recorded on the row; unknown errors are retried
        out.error = exc
    return out


def _mine(row: DatadogMirror | None, now: datetime) -> bool:
    return row is not None and row.claimed_by == WORKER_ID and row.lease_until is not None and row.lease_until >= now


def record(session: Session, *, policy: Policy, settings_keys: str, job: Job, out: Outcome, now: datetime) -> str:
    """Write what happened, only while we still hold the lease; returns the row's outcome."""
    row = session.get(DatadogMirror, job.incident_id, with_for_update=True)
    if row is None or not _mine(row, now):
        if out.created is not None and row is not None:
            row.state = "linked"  # the lease ran out, but the id we got must never be lost
            _link(session, job.incident_id, out.created)
        log.warning("datadog mirror of %s: lease lost before recording the outcome", job.snap.ref)
        return "lost"
    row.lease_until, row.claimed_by = None, None
    if out.created is not None:
        row.state = "linked"
        _link(session, job.incident_id, out.created)
    if out.looked_up and job.snap.commander_email:
        _cache_user(session, job.snap.commander_email, out.commander_id, now)
    err = out.error
    if err is None:
        row.synced_version, row.synced_at, row.noticed_at = job.version, now, None
        row.attempts, row.last_error, row.failing_since, row.next_attempt_at = 0, None, None, None
        row.sent = rules.remember(list(row.sent or []), rules.snapshot_fingerprint(job.snap), now)
        row.todos = [*(row.todos or []), *job.todos]
        row.postmortem_attached = row.postmortem_attached or job.postmortem
        session.execute(delete(DatadogPause))
        return "sent"
    reason = err.reason if isinstance(err, DatadogError) else f"{type(err).__name__}: {err}"
    if isinstance(err, AuthFailed):
        row.attempts = max(0, row.attempts - 1)  # not this incident's fault: no attempt charged
        if out.created is None and job.datadog_id is None:  # refused keys create nothing
            row.create_attempts = max(0, row.create_attempts - 1)
        pause(session, keys=settings_keys, reason=reason, now=now, retry=policy.datadog.auth_retry)
        return "paused"
    row.last_error = reason
    if isinstance(err, Gone):
        row.state = "deleted"
        row.last_error = f"the Datadog incident was deleted in Datadog: no longer mirrored ({reason})"
        return "deleted"
    if isinstance(err, Refused):
        row.state = "dead"
        return "dead"
    if not isinstance(err, Retry):
        log.error("datadog mirror of %s: unexpected error", job.snap.ref, exc_info=err)
    wait = delivery_rules.backoff(job.attempts, policy.notifications, retry_after=getattr(err, "wait", None))
    row.next_attempt_at, row.failing_since = now + wait, row.failing_since or now
    return "retry"


def _link(session: Session, incident_id: int, created: Created) -> None:
    session.execute(
        update(Incident)
        .where(Incident.id == incident_id)
        .values(datadog_id=created.id, datadog_public_id=created.public_id)
        .execution_options(synchronize_session=False)
    )


def _cache_user(session: Session, email: str, user_id: str | None, now: datetime) -> None:
    if not email:
        return
    row = session.get(DatadogUser, email.lower())
    if row is None:
        session.add(DatadogUser(email=email.lower(), user_id=user_id, fetched_at=now))
    else:
        row.user_id, row.fetched_at = user_id, now


def pause(session: Session, *, keys: str, reason: str, now: datetime, retry: timedelta) -> None:
    row = session.get(DatadogPause, 1)
    if row is None:
        session.add(DatadogPause(id=1, keys=keys, reason=reason, since=now, retry_at=now + retry))
    else:
        row.keys, row.reason, row.retry_at = keys, reason, now + retry


def _may_run(session: Session, *, keys: str, now: datetime) -> int | None:
    """How many rows this pass may claim: none while paused, one probe when the pause is due, all
    at once when the keys changed since Datadog refused them."""
    row = session.get(DatadogPause, 1)
    if row is None:
        return None
    if row.keys != keys:
        session.delete(row)
        return None
    return 1 if now >= row.retry_at else 0


def worker_task(ctx: WorkerContext) -> int:
    """Run by every worker pass; off while the keys are unset."""
    if not client.enabled(ctx.settings):
        return 0
    keys = client.keys_digest(ctx.settings)
    with ctx.sessions.begin() as session:
        now = ctx.clock.now()
        limit = _may_run(session, keys=keys, now=now)
        if limit == 0:
            return 0
        jobs = claim(session, policy=ctx.policy, now=now, limit=limit or ctx.policy.notifications.batch)
    if not jobs:
        return 0
    api = Api(ctx.settings, timeout=ctx.policy.notifications.timeout.total_seconds())
    done = 0
    for job in jobs:
        out = send(api, job)
        with ctx.sessions.begin() as session:
            got = record(session, policy=ctx.policy, settings_keys=keys, job=job, out=out, now=ctx.clock.now())
        done += 1
        if got == "paused":
            with ctx.sessions.begin() as session:
                _release(session, [j.incident_id for j in jobs if j is not job])
            break
    return done


def _release(session: Session, ids: list[int]) -> None:
    """Give back rows not started (the mirror paused): no attempt charged."""
    if ids:
        session.execute(
            update(DatadogMirror)
            .where(DatadogMirror.incident_id.in_(ids), DatadogMirror.claimed_by == WORKER_ID)
            .values(lease_until=None, claimed_by=None, attempts=DatadogMirror.attempts - 1)
        )
