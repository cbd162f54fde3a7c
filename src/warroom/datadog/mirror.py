"""The worker's half of the mirror: claim dirty incidents, send each one's latest state, record the outcome.

One row per incident is the queue (ordered per incident: one lease at a time; coalesced: whatever
changed since, one PATCH of the latest state). At least once, but never a second Datadog incident:
the claim records that a create is being tried before it is sent, so a retry after a timeout, a
5xx or a killed worker first searches Datadog for the row's marker and adopts what it finds."""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from warroom.core.runtime import new_worker_id
from warroom.datadog import rules
from warroom.datadog.client import Api, AuthFailed, Created, DatadogError, Gone, Refused, Retry
from warroom.datadog.models import DatadogMirror, DatadogPause, DatadogUser
from warroom.incidents import card, postmortems
from warroom.incidents import service as incidents
from warroom.incidents.models import Incident
from warroom.notifications import rules as delivery_rules
from warroom.policy.schema import Policy
from warroom.users.models import User

log = logging.getLogger(__name__)
WORKER_ID = new_worker_id()
USER_CACHE = timedelta(days=1)


@dataclass
class Job:
    incident_id: int
    version: int
    attempts: int
    datadog_id: str | None
    marker: str
    search_first: bool
    snap: rules.Snapshot
    commander_id: str | None
    commander_cached: bool
    postmortem: bool
    todos: list[str] = field(default_factory=list)
    deadline: float = 0.0  # time.monotonic() when the lease runs out: no call may outlive it


@dataclass
class Outcome:
    created: Created | None = None
    commander_id: str | None = None
    looked_up: bool = False
    extras_failed: str | None = None  # Datadog refused the postmortem link or a todo (the state went)
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
        ref=incident.ref,
        title=incident.title,
        state=incident.state,
        severity=incident.severity,
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


def lease(policy: Policy) -> timedelta:
    """How long a claim holds an incident: the policy's lease, and never less than the four calls a
    send may make (user, search, create, update) each waiting up to the policy's timeout."""
    return max(policy.notifications.lease, 4 * policy.notifications.timeout + timedelta(seconds=1))


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
        row.lease_until, row.claimed_by = now + lease(policy), WORKER_ID
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
                marker=row.marker or "",
                search_first=not linked and row.create_attempts > 1,
                snap=snap,
                commander_id=commander_id,
                commander_cached=cached,
                postmortem=snap.postmortem_url is not None and not row.postmortem_attached,
                todos=[t for t in snap.tasks if t not in (row.todos or [])] if policy.datadog.todos else [],
                deadline=time.monotonic() + lease(policy).total_seconds(),
            )
        )
    return jobs


def _in_lease(api: Api, job: Job) -> None:
    """A call that could end after our lease would overlap another worker's claim of this incident
    (two creates at once are two Datadog incidents): stop here, the rest is retried."""
    if job.deadline and time.monotonic() + api.timeout >= job.deadline:
        raise Retry("the lease would run out before the next call could end; continuing on the next claim")


def send(api: Api, job: Job) -> Outcome:
    """Outside any transaction: create (or adopt) once, then PATCH the latest full state."""
    out = Outcome(commander_id=job.commander_id)
    try:
        if not job.commander_cached and job.snap.commander_email:
            _in_lease(api, job)
            out.commander_id = api.user_id(job.snap.commander_email)
            out.looked_up = True
        datadog_id = job.datadog_id
        if datadog_id is None:
            found: list[Created] = []
            if job.search_first:  # an earlier create may have reached Datadog: look before creating
                _in_lease(api, job)
                found = api.search(job.marker)
            if found:
                log.info("datadog: %s was created by an earlier attempt (%s): adopted", job.snap.ref, found[0].id)
                out.created = found[0]
            else:
                _in_lease(api, job)
                out.created = api.create(rules.create_body(job.snap, marker=job.marker, commander_id=out.commander_id))
            datadog_id = out.created.id
        _in_lease(api, job)
        api.patch(datadog_id, rules.patch_body(job.snap, datadog_id=datadog_id, commander_id=out.commander_id))
        try:  # extras: a refusal here must not stop the incident's own state from being mirrored
            if job.postmortem and job.snap.postmortem_url:
                _in_lease(api, job)
                api.attach_postmortem(datadog_id, job.snap.postmortem_url, f"Postmortem of {job.snap.ref}")
            for todo in job.todos:
                _in_lease(api, job)
                api.add_todo(datadog_id, todo)
        except Refused as exc:
            out.extras_failed = exc.reason
    except Exception as exc:  # noqa: BLE001 - recorded on the row; unknown errors are retried
        out.error = exc
    return out


def _mine(row: DatadogMirror | None, now: datetime) -> bool:
    return row is not None and row.claimed_by == WORKER_ID and row.lease_until is not None and row.lease_until >= now


def record(session: Session, *, policy: Policy, settings_keys: str, job: Job, out: Outcome, now: datetime) -> str:
    """Write what happened, only while we still hold the lease; returns the row's outcome. The
    incident row is written (locked) before the mirror row, the order of every use case whose
    change marks the mirror row: never the other way round (a deadlock on PostgreSQL)."""
    if out.created is not None:
        _link(session, job.incident_id, out.created)  # even with the lease lost: the id must never be lost
        linked = session.get(Incident, job.incident_id, populate_existing=True)
        if linked is not None:  # the Slack card shows the Datadog incident from now on
            card.refresh(session, policy=policy, now=now, incident=linked)
    row = session.get(DatadogMirror, job.incident_id, with_for_update=True)
    if out.created is not None and row is not None:
        row.state = "linked"
    if row is None or not _mine(row, now):
        log.warning("datadog mirror of %s: lease lost before recording the outcome", job.snap.ref)
        return "lost"
    row.lease_until, row.claimed_by = None, None
    if out.looked_up and job.snap.commander_email:
        _cache_user(session, job.snap.commander_email, out.commander_id, now)
    err = out.error
    if err is None:
        row.synced_version, row.synced_at, row.noticed_at = job.version, now, None
        row.attempts, row.failing_since, row.next_attempt_at = 0, None, None
        row.sent = rules.remember(list(row.sent or []), rules.snapshot_fingerprint(job.snap), now)
        row.last_error = f"the state is current; Datadog refused: {out.extras_failed}" if out.extras_failed else None
        if not out.extras_failed:  # else tried again with the next change
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
    """One row for the whole mirror (an upsert: several deliveries may be refused at once)."""
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    values = {"keys": keys, "reason": reason, "retry_at": now + retry}
    session.execute(
        insert(DatadogPause).values(id=1, since=now, **values).on_conflict_do_update(index_elements=["id"], set_=values)
    )


def may_run(session: Session, *, keys: str, now: datetime) -> int | None:
    """How many rows this pass may claim: none while paused, one probe when the pause is due, all
    at once when the keys changed since Datadog refused them."""
    row = session.get(DatadogPause, 1)
    if row is None:
        return None
    if row.keys != keys:
        session.delete(row)
        return None
    return 1 if now >= row.retry_at else 0
