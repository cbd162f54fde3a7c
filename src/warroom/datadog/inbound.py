"""Incidents declared in Datadog become ours; their later changes update ours; our own mirror's echoes
and Datadog's re-deliveries change nothing."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from warroom.core.errors import Conflict, Invalid, WarroomError
from warroom.core.hooks import Hooks
from warroom.datadog import rules, tracking
from warroom.datadog.models import DatadogDelivery, DatadogMirror
from warroom.incidents import editing
from warroom.incidents import service as incidents
from warroom.incidents.models import Incident
from warroom.incidents.schemas import IncidentCreate, IncidentPatch
from warroom.policy.schema import Policy
from warroom.users.models import User

ACTOR = "datadog"


class NotYet(Exception):
    """Our own create of this incident is in flight: Datadog retries a 5xx, by then it is recorded."""


@dataclass(frozen=True)
class Received:
    outcome: str  # created | updated | echo | unchanged | duplicate | ignored
    incident: str | None
    detail: str = ""


def digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def _person(session: Session, email: str | None) -> str | None:
    if not email:
        return None
    return session.scalar(
        select(User.handle).where(func.lower(User.email) == email.lower(), User.active.is_(True)).limit(1)
    )


def _our_create_in_flight(session: Session, got: rules.Inbound) -> bool:
    """A Datadog incident we are creating right now (its id not yet recorded) notifies us: not theirs."""
    return (
        session.scalar(
            select(func.count())
            .select_from(DatadogMirror)
            .join(Incident, Incident.id == DatadogMirror.incident_id)
            .where(
                Incident.datadog_id.is_(None),
                DatadogMirror.create_attempts > 0,
                DatadogMirror.state == "pending",
                Incident.title == got.title,
            )
        )
        or 0
    ) > 0


def _declare(session: Session, *, policy: Policy, now: datetime, got: rules.Inbound) -> Incident:
    known = [s for s in got.services if policy.service(s) is not None]
    if not known and policy.datadog.inbound_service:
        known = [policy.datadog.inbound_service]
    if not known:
        names = ", ".join(s.key for s in policy.services)
        raise Invalid(
            f"Datadog incident {got.public_id or got.id} names none of our services ({names}) "
            "and the policy has no datadog.inbound_service",
            {"services": got.services},
        )
    severities = policy.severity_keys()
    commander = _person(session, got.commander_email)
    service = policy.service(known[0])
    data = IncidentCreate(
        services=known,
        priority=policy.datadog.inbound_priority.get(got.severity, "P4"),
        severity=got.severity if got.severity in severities else severities[-1],
        title=got.title[:500],
        commander=commander or (service.oncall if service and service.oncall else None),
    )
    incident = incidents.declare(
        session,
        policy=policy,
        now=now,
        actor=ACTOR,
        data=data,
        automatic=commander is None,
        reason=f"declared in Datadog as incident {got.public_id or got.id}" + (f" ({got.url})" if got.url else ""),
    )
    incident.datadog_id, incident.datadog_public_id = got.id, got.public_id
    session.add(
        DatadogMirror(
            incident_id=incident.id,
            state="linked",
            origin="datadog",
            version=1,
            synced_version=1,
            attempts=0,
            create_attempts=0,
            sent=rules.remember([], rules.fingerprint(got.title, got.severity, got.state), now),
            todos=[],
            postmortem_attached=False,
            synced_at=now,
        )
    )
    return incident


def _apply(
    session: Session, *, policy: Policy, now: datetime, hooks: Hooks, incident: Incident, got: rules.Inbound
) -> list[str]:
    """Datadog's changes to a linked incident; what we could not apply is said, not fatal."""
    changed, notes = [], []
    patch: dict[str, Any] = {}
    if got.title and got.title != incident.title:
        patch["title"] = got.title[:500]
    if got.severity in policy.severity_keys() and got.severity != incident.severity:
        patch["severity"] = got.severity
    commander = _person(session, got.commander_email)
    if commander and commander != incident.commander:
        patch["commander"] = commander
    if patch and incident.state != "completed":
        try:
            with session.begin_nested():
                editing.patch(
                    session, policy=policy, now=now, actor=ACTOR, incident=incident, data=IncidentPatch(**patch)
                )
            changed += sorted(patch)
        except WarroomError as exc:
            notes.append(f"not applied {sorted(patch)}: {exc}")
    ours = rules.STATES.get(incident.state, incident.state)
    if got.state in ("active", "stable", "resolved") and got.state != ours:
        try:
            with session.begin_nested():
                incidents.transition(
                    session,
                    policy=policy,
                    now=now,
                    actor=ACTOR,
                    incident=incident,
                    to=got.state,
                    reason="changed in Datadog",
                    hooks=hooks,
                )
            changed.append("state")
        except WarroomError as exc:
            notes.append(f"state {got.state} not applied: {exc}")
    return changed + notes


def receive(session: Session, *, policy: Policy, now: datetime, hooks: Hooks, body: bytes, data: Any) -> Received:
    """One notification of Datadog's incident notification rule (docs/datadog.md)."""
    key = digest(body)
    if session.get(DatadogDelivery, key) is not None:
        return Received("duplicate", None, "this notification was already applied")
    try:
        got = rules.parse_inbound(data)
    except ValueError as exc:
        raise Invalid(f"not a Datadog incident notification: {exc}") from None
    tracking.quiet(session)  # what Datadog tells us is never mirrored back to it
    incident = session.scalar(select(Incident).where(Incident.datadog_id == got.id).with_for_update())
    fp = rules.fingerprint(got.title, got.severity, got.state)
    if incident is None:
        if _our_create_in_flight(session, got):
            raise NotYet(f"warroom is creating this Datadog incident ({got.title!r}); retry shortly")
        incident = _declare(session, policy=policy, now=now, got=got)
        result = Received("created", incident.ref)
    else:
        row = session.get(DatadogMirror, incident.id, with_for_update=True)
        if row is not None and rules.sent_recently(list(row.sent or []), fp, now, policy.datadog.echo_window):
            result = Received("echo", incident.ref, "a state our mirror sent: nothing to do")
        else:
            done = _apply(session, policy=policy, now=now, hooks=hooks, incident=incident, got=got)
            result = Received("updated" if done else "unchanged", incident.ref, "; ".join(done))
            if row is not None:
                row.sent = rules.remember(list(row.sent or []), fp, now)
    try:
        with session.begin_nested():
            session.add(
                DatadogDelivery(
                    digest=key,
                    datadog_id=got.id,
                    outcome=result.outcome,
                    received_at=now,
                    detail={"incident": result.incident, "detail": result.detail[:500]},
                )
            )
    except IntegrityError:
        raise Conflict("this notification is being applied by another request") from None
    return result
