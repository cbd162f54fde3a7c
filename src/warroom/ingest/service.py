"""Store alert events (SQLAlchemy Core on the hot path), triage them, and read them back."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Table, func, select, update
from sqlalchemy.orm import Session

from warroom.errors import NotFound
from warroom.incidents.models import Incident, IncidentService
from warroom.incidents.states import OPEN_STATES
from warroom.ingest import grouping, jobs, statements  # noqa: F401  (jobs: registers the timed-rule handlers)
from warroom.ingest.models import Alert, AlertEvent
from warroom.ingest.parsers import Incoming
from warroom.policy.durations import format_duration
from warroom.policy.schema import Policy
from warroom.triage import rules

A: Table = Alert.__table__  # type: ignore[assignment]
E: Table = AlertEvent.__table__  # type: ignore[assignment]


@dataclass(frozen=True)
class Triaged:
    """What the rules decide for one event, before anything is stored (also the dry run)."""

    service: str
    mapped: bool
    environment: str | None
    tier: int
    users: int | None
    priority: rules.Decision
    decisions: list[rules.Decision]
    escalates: bool


@dataclass
class Outcome:
    alert_id: int | None
    dedup_key: str
    status: str
    duplicate: bool = False
    created: bool = False
    incident_id: int | None = None


def triage(policy: Policy, item: Incoming) -> Triaged:
    service, mapped, svc_decision = rules.map_service(
        policy, source=item.source, labels=item.labels, monitor_id=item.monitor_id,
        title=item.title)
    environment = rules.environment_from(policy, item.labels)
    tier_decision = rules.tier_for(policy, environment)
    tier = int(tier_decision.value)
    users = rules.users_from(policy, item.labels)
    priority = rules.alert_priority(policy, tier=tier, users=users)
    return Triaged(service=service, mapped=mapped, environment=environment, tier=tier,
                   users=users, priority=priority,
                   decisions=[svc_decision, tier_decision, priority],
                   escalates=rules.escalates(policy, tier=tier, users=users,
                                             priority=priority.value))


def _event_key(alert_id: int, item: Incoming) -> str:
    return hashlib.sha256(f"{alert_id}\n{item.content_hash()}".encode()).hexdigest()


def _record_event(session: Session, alert_id: int, item: Incoming, now: datetime) -> bool:
    """Insert the event; False when this exact event was already stored (a re-delivery)."""
    return session.connection().execute(statements.for_session(session).insert_event, dict(
        alert_id=alert_id, event_key=_event_key(alert_id, item), source=item.source,
        status=item.status, transition=item.transition, received_at=now,
        occurred_at=item.occurred_at, raw=item.raw,
    )).scalar() is not None


def _new_alert(session: Session, item: Incoming, t: Triaged, now: datetime,
               ) -> tuple[int | None, dict[str, Any]]:
    """Insert unless a concurrent delivery opened it first; returns the id and the row."""
    firing = item.status == "firing"
    row: dict[str, Any] = dict(
        source=item.source, dedup_key=item.dedup_key, open_key=item.dedup_key if firing else None,
        service=t.service, mapped=t.mapped, environment=t.environment, tier=t.tier,
        title=item.title, status="firing" if firing else "resolved", transition=item.transition,
        priority=t.priority.value, priority_rule=t.priority.rule,
        priority_reason=t.priority.reason[:500], priority_hint=item.priority_hint,
        users_hint=t.users, labels=item.labels, link=(item.link or None) and item.link[:2000],
        first_seen_at=now, last_seen_at=now, resolved_at=None if firing else now,
        incident_id=None, event_count=1,
    )
    row["id"] = session.connection().execute(statements.for_session(session).insert_alert,
                                             row).scalar()
    return row["id"], row


def _open_alert(session: Session, item: Incoming) -> Any:
    return session.connection().execute(statements.for_session(session).open_alert,
                                        {"source": item.source, "key": item.dedup_key}).first()


def ingest(session: Session, *, policy: Policy, now: datetime, items: list[Incoming],
           triaged: list[Triaged] | None = None, prelocked: frozenset[str] = frozenset(),
           ) -> list[Outcome]:
    """Apply events in (service, key) order so concurrent batches lock in one order;
    `triaged` passes decisions the caller already made, `prelocked` the services whose lock
    this transaction already holds (the API takes a batch's locks up front)."""
    triaged = triaged if triaged is not None else [triage(policy, it) for it in items]
    planned = [(t, i, it) for i, (t, it) in enumerate(zip(triaged, items, strict=True))]
    results: dict[int, Outcome] = {}
    for t, i, item in sorted(planned, key=lambda p: (p[0].service, p[2].dedup_key, p[1])):
        results[i] = _apply(session, policy=policy, now=now, item=item, t=t, prelocked=prelocked)
    return [results[i] for i in range(len(items))]


def _apply(session: Session, *, policy: Policy, now: datetime, item: Incoming, t: Triaged,
           prelocked: frozenset[str]) -> Outcome:
    out = Outcome(alert_id=None, dedup_key=item.dedup_key, status=item.status)
    row = _open_alert(session, item)
    was_open = row is not None
    if row is None and item.status != "firing":
        row = session.connection().execute(statements.for_session(session).last_alert,
                                           {"source": item.source, "key": item.dedup_key}).first()
    if row is None and item.status == "acknowledged":
        out.duplicate = True  # nothing to acknowledge
        return out
    # One lock per service before any write: grouping/declaring never races (PostgreSQL).
    service = row.service if row is not None else t.service
    if service not in prelocked:
        grouping.lock_service(session, service)
    inserted: dict[str, Any] | None = None
    if row is None:
        out.alert_id, inserted = _new_alert(session, item, t, now)
        out.created = out.alert_id is not None
        if out.alert_id is None:  # a concurrent delivery opened it first
            row = _open_alert(session, item)
    if row is not None:
        out.alert_id = row.id
        out.incident_id = row.incident_id
    assert out.alert_id is not None
    if not _record_event(session, out.alert_id, item, now):
        out.duplicate = True
        return out
    values: dict[str, Any] = {} if out.created else {"last_seen_at": now,
                                                     "event_count": A.c.event_count + 1}
    if item.status != "acknowledged" and not out.created:
        values["transition"] = item.transition
    if item.status == "resolved" and was_open:
        values.update(status="resolved", open_key=None, resolved_at=now)
    if row is not None and item.status == "firing" and t.users is not None \
            and t.users != row.users_hint:
        values["users_hint"] = t.users
        rising = rules.higher(row.priority, t.priority.value)
        if rising != row.priority:
            values.update(priority=rising, priority_rule=t.priority.rule,
                          priority_reason=t.priority.reason[:500])
    if values:
        session.connection().execute(update(A).where(A.c.id == out.alert_id).values(**values))
    if item.status == "firing":
        if out.created and t.escalates:
            session.connection().execute(statements.for_session(session).upsert_due, dict(
                kind=grouping.ESCALATE, subject=grouping.alert_subject(out.alert_id),
                due_at=now + policy.unknown_impact.escalation_window, created_at=now,
                payload={"dedup_key": item.dedup_key}, done=False, attempts=0))
        if out.created or "priority" in values:
            out.incident_id = grouping.place(session, policy=policy, now=now,
                                             alert_id=out.alert_id,
                                             row=inserted if out.created else None)
        elif row is not None and row.incident_id and row.transition != item.transition:
            _note_transition(session, policy=policy, now=now, alert_id=out.alert_id)
    elif values.get("status") == "resolved":
        grouping.after_resolve(session, policy=policy, now=now, alert_id=out.alert_id)
    return out


def _note_transition(session: Session, *, policy: Policy, now: datetime, alert_id: int) -> None:
    from warroom.incidents import service as incidents

    a = session.connection().execute(select(A).where(A.c.id == alert_id)).mappings().one()
    incident = incidents.get(session, a["incident_id"])
    if incident.state in OPEN_STATES:
        grouping.alert_timeline(session, incident, now=now, a=a,
                                what=f"changed to {a['transition']}")


# ---- reads -------------------------------------------------------------------------------


def list_alerts(session: Session, *, status: str | None = None, service: str | None = None,
                source: str | None = None, incident_id: int | None = None,
                unlinked: bool | None = None, page: int = 1, per_page: int = 50,
                ) -> tuple[list[Alert], int]:
    """Newest first; `unlinked=True` is "firing alerts not yet in an incident" with status=firing."""
    stmt = select(Alert)
    if status:
        stmt = stmt.where(Alert.status.in_(status.split(",")))
    if service:
        stmt = stmt.where(Alert.service == service)
    if source:
        stmt = stmt.where(Alert.source == source)
    if incident_id is not None:
        stmt = stmt.where(Alert.incident_id == incident_id)
    if unlinked is True:
        stmt = stmt.where(Alert.incident_id.is_(None))
    elif unlinked is False:
        stmt = stmt.where(Alert.incident_id.is_not(None))
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.scalars(stmt.order_by(Alert.first_seen_at.desc(), Alert.id.desc())
                           .offset((page - 1) * per_page).limit(per_page)).all()
    return list(rows), total


def get_alert(session: Session, alert_id: int) -> Alert:
    alert = session.get(Alert, alert_id)
    if alert is None:
        raise NotFound(f"no alert {alert_id}")
    return alert


@dataclass(frozen=True)
class EventPage:
    """The newest `limit` events older than a cursor, oldest first; `older` is the next cursor."""

    events: list[AlertEvent]
    total: int
    older: int | None


def events(session: Session, *, alert_id: int, limit: int = 50, before: int | None = None) -> EventPage:
    """A flapping alert keeps thousands of raw bodies: read one page of them, and count them all."""
    stmt = select(AlertEvent).where(AlertEvent.alert_id == alert_id)
    if before is not None:
        stmt = stmt.where(AlertEvent.id < before)
    rows = list(session.scalars(stmt.order_by(AlertEvent.id.desc()).limit(limit + 1)))
    total = session.scalar(select(func.count()).where(AlertEvent.alert_id == alert_id)) or 0
    older = rows[limit - 1].id if len(rows) > limit else None
    return EventPage(events=rows[:limit][::-1], total=total, older=older)


def simulate(session: Session, *, policy: Policy, now: datetime, items: list[Incoming],
             ) -> list[dict[str, Any]]:
    """What each event would do; reads only, stores nothing."""
    out = []
    for item in items:
        t = triage(policy, item)
        row = _open_alert(session, item)
        svc = select(IncidentService.incident_id).where(IncidentService.service == t.service)
        open_incident = session.scalar(select(Incident).where(
            Incident.id.in_(svc), Incident.state.in_(OPEN_STATES),
            Incident.updated_at >= now - policy.triage.grouping_window
        ).order_by(Incident.id.desc()).limit(1))
        must = rules.must_declare(policy, t.priority.value)
        if item.status != "firing":
            action = "recover the open alert" if row else "record a recovery (no open alert)"
        elif row is not None:
            action = "update the open alert"
        elif open_incident is not None:
            action = f"join {open_incident.ref}"
        elif must:
            action = "declare an incident" if policy.triage.auto_declare else "queue a declare prompt"
        elif t.escalates:
            action = ("open a triage record; declare if still firing after "
                      f"{format_duration(policy.unknown_impact.escalation_window)}")
        else:
            action = "open a triage record"
        decisions = list(t.decisions)
        if t.escalates:
            decisions.append(rules.escalated(policy, tier=t.tier, priority=t.priority.value))
        severity = rules.severity_for(policy, [(item.labels, t.tier)])
        decisions.append(severity)
        out.append({
            "source": item.source, "dedup_key": item.dedup_key, "status": item.status,
            "transition": item.transition, "title": item.title, "service": t.service,
            "mapped": t.mapped, "environment": t.environment, "tier": t.tier,
            "users_per_hour": t.users, "priority": t.priority.value,
            "priority_rule": t.priority.rule, "escalates": t.escalates,
            "severity": severity.value, "declare": must and item.status == "firing",
            "action": action, "rules": [d.rule for d in decisions],
            "decisions": [asdict(d) for d in decisions],
        })
    return out
