"""From alerts to incidents: join, reopen, declare (or prompt), raise priority, auto-resolve."""

from __future__ import annotations

import zlib
from datetime import datetime
from typing import Any

from sqlalchemy import Table, and_, bindparam, case, func, or_, select, text, update
from sqlalchemy.orm import Session

from warroom.alerts.models import Alert
from warroom.core.hooks import Hooks
from warroom.incidents import cadence, editing, states
from warroom.incidents import service as incidents
from warroom.incidents.models import Incident, IncidentService, TimelineEntry
from warroom.incidents.schemas import IncidentCreate
from warroom.notifications import service as outbox
from warroom.policy.durations import format_duration
from warroom.policy.schema import Policy
from warroom.scheduler import service as scheduler
from warroom.triage import rules

A: Table = Alert.__table__  # type: ignore[assignment]
SYSTEM = incidents.SYSTEM
ESCALATE = "triage_escalate"
AUTORESOLVE = "alert_autoresolve"


def lock_key(service: str) -> int:
    return zlib.crc32(f"warroom-service:{service}".encode())


# Grouping is serialized per service with a transaction-scoped advisory lock (PostgreSQL; SQLite's
# writers are serial anyway). The fast path sends the same SQL through its driver statements.
LOCK = text("SELECT pg_advisory_xact_lock(:k)")
# Several keys in one round trip, taken in the order given (WITH ORDINALITY keeps it).
LOCKS = text(
    "SELECT pg_advisory_xact_lock(k) FROM unnest(CAST(:keys AS bigint[])) WITH ORDINALITY AS t(k, n) ORDER BY n"
)
# The service's open incident of the alert's tier (active within the grouping window), else one
# resolved within the reopen window (bind: service, tier, production_tier, open_since,
# resolved_since). The environment is part of grouping: a staging alert never joins or reopens a
# production incident, nor a production alert a staging one; a person's incident is production.
TARGET = (
    select(Incident.id)
    .where(
        Incident.id.in_(select(IncidentService.incident_id).where(IncidentService.service == bindparam("service"))),
        func.coalesce(Incident.tier, bindparam("production_tier")) == bindparam("tier"),
        or_(
            and_(
                or_(*(Incident.state == s for s in states.OPEN_STATES)), Incident.updated_at >= bindparam("open_since")
            ),
            and_(Incident.state == "resolved", Incident.resolved_at >= bindparam("resolved_since")),
        ),
    )
    .order_by(case((Incident.state == "resolved", 1), else_=0), Incident.id.desc())
    .limit(1)
)


def target_params(policy: Policy, *, now: datetime, service: str, tier: int) -> dict[str, Any]:
    """TARGET's values (datetimes as given: the fast path converts them for its driver)."""
    return {
        "service": service,
        "tier": tier,
        "production_tier": rules.production_tier(policy),
        "open_since": now - policy.triage.grouping_window,
        "resolved_since": now - policy.triage.reopen_window,
    }


def lock_service(session: Session, service: str) -> None:
    """Serialize grouping per service across processes (PostgreSQL); SQLite writers are serial."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(LOCK, {"k": lock_key(service)})


def lock_services(session: Session, services: list[str]) -> None:
    """Several services' locks in sorted order, in one statement."""
    if session.get_bind().dialect.name == "postgresql" and services:
        session.execute(LOCKS, {"keys": [lock_key(s) for s in sorted(services)]})


def alert_subject(alert_id: int) -> str:
    return f"alert:{alert_id}"


def _alert(session: Session, alert_id: int) -> Any:
    return session.connection().execute(select(A).where(A.c.id == alert_id)).mappings().one()


def _label(a: Any) -> str:
    return f"alert {a['id']} ({a['source']}: {a['title']})"


def alert_timeline(
    session: Session, incident: Incident, *, now: datetime, a: Any, what: str, text_: str | None = None
) -> None:
    """A timeline entry an update draft can list: which alert, what happened to it."""
    incidents.add_timeline(
        session,
        incident,
        now=now,
        actor=SYSTEM,
        kind="alert",
        text=text_ or f"Alert {a['id']} {what}: {a['title']} [{a['source']}, {a['service']}, {a['priority']}]",
        data={
            "alert_id": a["id"],
            "event": what,
            "source": a["source"],
            "dedup_key": a["dedup_key"],
            "status": a["status"],
            "priority": a["priority"],
            "service": a["service"],
            "transition": a["transition"],
        },
    )


def _set_by_hand(session: Session, incident: Incident, kind: str) -> bool:
    """True once a person changed this field: automation then never overrides them."""
    return (
        session.scalar(
            select(func.count(TimelineEntry.id)).where(
                TimelineEntry.incident_id == incident.id, TimelineEntry.kind == kind, TimelineEntry.actor != SYSTEM
            )
        )
        != 0
    )


def raise_priority(session: Session, *, policy: Policy, now: datetime, incident: Incident, a: Any) -> None:
    """Priority only rises automatically, and never over a person's choice."""
    wanted = a["priority"]
    if rules.higher(incident.priority, wanted) == incident.priority:
        return
    reason = f"{_label(a)}: {a['priority_reason']} [rule {a['priority_rule']}]"
    if _set_by_hand(session, incident, "priority_changed"):
        incidents.add_timeline(
            session,
            incident,
            now=now,
            actor=SYSTEM,
            kind="priority_suggested",
            text=f"Alerts suggest {wanted}; priority was set by hand to {incident.priority} and stays. {reason}",
            data={"suggested": wanted, "alert_id": a["id"], "rule": a["priority_rule"]},
        )
        return
    editing.set_priority(
        session, policy=policy, now=now, actor=SYSTEM, incident=incident, priority=wanted, reason=reason
    )


def holding_open(policy: Policy, incident: Incident) -> Any:
    """The alerts that keep an incident open: its firing ones of its tier or a more production one."""
    return and_(
        A.c.incident_id == incident.id,
        A.c.status == "firing",
        A.c.tier <= rules.incident_tier(policy, incident.tier),
    )


def any_firing(session: Session, policy: Policy, incident: Incident) -> bool:
    return (
        session.connection().execute(select(A.c.id).where(holding_open(policy, incident)).limit(1)).first() is not None
    )


def _severity_inputs(session: Session, policy: Policy, incident_id: int) -> list[tuple[dict[str, str], int]]:
    """What `severity_for` needs, not every label of a storm: distinct (tag value, tier) of the firing alerts."""
    out: list[tuple[dict[str, str], int]] = []
    for tag in rules.severity_tags(policy):
        value = A.c.labels[tag].as_string()
        for raw, tier in session.connection().execute(
            select(value, A.c.tier)
            .distinct()
            .where(A.c.incident_id == incident_id, A.c.status == "firing", value.is_not(None))
        ):
            out.append(({tag: str(raw)}, tier))  # comma-separated values are split by severity_for
    return out


def suggest_severity(
    session: Session, *, policy: Policy, now: datetime, incident: Incident, a: Any | None = None
) -> None:
    """Apply a more severe suggestion to an automatic incident, else note it; skip what `a` (joining) cannot change."""
    if a is not None and not rules.adds_severity_values(policy, dict(a["labels"] or {}), a["tier"]):
        return
    if not rules.severity_can_rise(policy, incident.severity):
        return  # e.g. already SEV-1: nothing to suggest, whatever the alerts say
    decision = rules.severity_for(policy, _severity_inputs(session, policy, incident.id))
    if not rules.more_severe(decision.value, incident.severity):
        return
    if incident.declared_automatically and not _set_by_hand(session, incident, "severity_changed"):
        old, incident.severity = incident.severity, decision.value
        incidents.add_timeline(
            session,
            incident,
            now=now,
            actor=SYSTEM,
            kind="severity_changed",
            text=f"Severity changed from {old} to {decision.value}: {decision.reason} [rule {decision.rule}]",
            data={"from": old, "to": decision.value, "rule": decision.rule},
        )
        return
    incidents.add_timeline(
        session,
        incident,
        now=now,
        actor=SYSTEM,
        kind="severity_suggested",
        text=f"Suggested severity {decision.value}: {decision.reason} [rule {decision.rule}]",
        data={"suggested": decision.value, "rule": decision.rule},
    )


def target(
    session: Session, *, policy: Policy, now: datetime, service: str, tier: int, known: int | None = None
) -> Incident | None:
    """The service's open incident of this tier (active within the grouping window), else one
    resolved within the reopen window; locked for update and re-checked after the lock. `known`:
    what TARGET already answered in this transaction (the batch's lookahead)."""
    found = (
        known
        if known is not None
        else session.scalar(TARGET, target_params(policy, now=now, service=service, tier=tier))
    )
    if found is None:
        return None
    incident = incidents.get(session, found, for_update=True)
    return incident if incident.state in ("active", "stable", "resolved") else None


def _link(session: Session, *, policy: Policy, now: datetime, incident: Incident, a: Any, what: str) -> None:
    session.connection().execute(update(A).where(A.c.id == a["id"]).values(incident_id=incident.id))
    a = {**a, "incident_id": incident.id}
    alert_timeline(session, incident, now=now, a=a, what=what)
    scheduler.cancel(session, kind=AUTORESOLVE, subject=cadence.incident_subject(incident.id))
    incident.updated_at = now


def place(
    session: Session,
    *,
    policy: Policy,
    now: datetime,
    alert_id: int,
    hooks: Hooks,
    row: dict[str, Any] | None = None,
    quiet: set[tuple[str, int]] | None = None,
) -> int | None:
    """Put a firing alert where it belongs; returns its incident id (None: triage record).
    `row` is the just-inserted alert, which saves reading it back; `quiet` holds the (service,
    tier) pairs this transaction already found without an incident to join (kept up to date here)."""
    a = row if row is not None else _alert(session, alert_id)
    if a["status"] != "firing":
        return a["incident_id"]
    if a["incident_id"] is not None:
        current = incidents.get(session, a["incident_id"], for_update=True)
        if current.state in states.OPEN_STATES:
            raise_priority(session, policy=policy, now=now, incident=current, a=a)
        return current.id
    group = (a["service"], a["tier"])
    must = rules.must_declare(policy, a["priority"])
    if quiet is not None and group in quiet and not must:
        return None  # a triage record, as the last alert of this service and tier in this transaction
    incident = target(session, policy=policy, now=now, service=group[0], tier=group[1])
    if quiet is not None:
        quiet.discard(group)
        if incident is None and not (must and policy.triage.auto_declare):
            quiet.add(group)
    if incident is not None and incident.state in states.OPEN_STATES:
        _link(session, policy=policy, now=now, incident=incident, a=a, what="joined")
    elif incident is not None:
        window = format_duration(policy.triage.reopen_window)
        incidents.transition(
            session,
            policy=policy,
            now=now,
            actor=SYSTEM,
            incident=incident,
            to="active",
            reason=_reopen_reason(session, incident, a, window),
            hooks=hooks,
        )
        _link(session, policy=policy, now=now, incident=incident, a=a, what="reopened")
    if incident is not None:
        raise_priority(session, policy=policy, now=now, incident=incident, a=a)
        suggest_severity(session, policy=policy, now=now, incident=incident, a=a)
        return incident.id
    if not must:
        return None
    if not policy.triage.auto_declare:
        _prompt(session, policy=policy, now=now, a=a)
        return None
    return declare(session, policy=policy, now=now, a=a).id


def _reopen_reason(session: Session, incident: Incident, a: Any, window: str) -> str:
    """Say "fired again" only of the same alert: its key (or episode key, for Datadog's cycles) was in the incident."""
    same = or_(A.c.dedup_key == a["dedup_key"], A.c.episode_key == (a.get("episode_key") or a["dedup_key"]))
    again = (
        session.connection()
        .execute(select(A.c.id).where(A.c.incident_id == incident.id, A.c.source == a["source"], same).limit(1))
        .first()
    )
    if again is not None:
        return f"{_label(a)} fired again within the reopen window ({window})"
    return f"new {_label(a)} on {a['service']} fired within the reopen window ({window})"


def _prompt(session: Session, *, policy: Policy, now: datetime, a: Any) -> None:
    text_ = (
        f"Declare an incident? {_label(a)} is {a['priority']} on {a['service']} "
        f"(Tier {a['tier']}): {a['priority_reason']} [rule {a['priority_rule']}]. "
        f"Policy has auto_declare off: a person must declare it."
    )
    outbox.enqueue(
        session,
        policy=policy,
        now=now,
        event="declare_prompt",
        text=text_,
        payload={
            "alert_id": a["id"],
            "service": a["service"],
            "priority": a["priority"],
            "rule": a["priority_rule"],
            "title": a["title"],
            "link": a["link"],
        },
    )


def declare(session: Session, *, policy: Policy, now: datetime, a: Any) -> Incident:
    """Auto-declare for the alert's service with its on-call as commander; link its alerts."""
    pending = list(
        session.connection()
        .execute(
            select(A)
            .where(
                A.c.service == a["service"],
                A.c.tier == a["tier"],
                A.c.status == "firing",
                A.c.incident_id.is_(None),
            )
            .order_by(A.c.id)
        )
        .mappings()
    )
    if not any(p["id"] == a["id"] for p in pending):
        pending.append(a)
    sev = rules.severity_for(policy, [(dict(p["labels"] or {}), p["tier"]) for p in pending])
    svc = policy.service(a["service"])
    monitors = list(dict.fromkeys(p["title"][:200] for p in pending))[:20]
    data = IncidentCreate(
        services=[a["service"]],
        priority=a["priority"],
        severity=sev.value,
        commander=svc.oncall if svc and svc.oncall else None,
        monitors=monitors,
        detection_method=f"alert ({a['source']})",
    )
    reason = (
        f"{_label(a)}: {a['priority_reason']} [rule {a['priority_rule']}]; "
        f"severity {sev.value}: {sev.reason} [rule {sev.rule}]"
    )
    incident = incidents.declare(
        session,
        policy=policy,
        now=now,
        actor=SYSTEM,
        data=data,
        automatic=True,
        first_alert_at=min(p["first_seen_at"] for p in pending),
        reason=reason,
    )
    incident.tier = a["tier"]
    for p in pending:
        _link(
            session, policy=policy, now=now, incident=incident, a=p, what="declared" if p["id"] == a["id"] else "joined"
        )
    return incident


def after_resolve(session: Session, *, policy: Policy, now: datetime, alert_id: int) -> None:
    """Timeline the recovery; once nothing fires, auto-resolve after the stability window."""
    a = _alert(session, alert_id)
    scheduler.cancel(session, kind=ESCALATE, subject=alert_subject(alert_id))
    if a["incident_id"] is None:
        return
    incident = incidents.get(session, a["incident_id"], for_update=True)
    alert_timeline(session, incident, now=now, a=a, what="recovered")
    if incident.state in states.OPEN_STATES and not any_firing(session, policy, incident):
        scheduler.schedule(
            session,
            kind=AUTORESOLVE,
            subject=cadence.incident_subject(incident.id),
            due_at=now + policy.triage.stability_window,
            now=now,
            payload={"alert_id": alert_id},
        )
