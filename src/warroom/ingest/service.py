"""Triage alert events (pure decisions, remembered per process) and the dry run; the fast path stores them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from warroom.alerts.models import Alert
from warroom.core.settings import Settings
from warroom.incidents.models import Incident, IncidentService
from warroom.incidents.states import OPEN_STATES
from warroom.ingest.parsers import Incoming
from warroom.policy.durations import format_duration
from warroom.policy.schema import Policy
from warroom.triage import rules


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


def triage(policy: Policy, item: Incoming) -> Triaged:
    service, mapped, svc_decision = rules.map_service(
        policy, source=item.source, labels=item.labels, monitor_id=item.monitor_id, title=item.title
    )
    environment = rules.environment_from(policy, item.labels)
    tier_decision = rules.tier_for(policy, environment)
    tier = int(tier_decision.value)
    users, users_problem = rules.users_figure(policy, item.labels)
    priority = rules.alert_priority(policy, tier=tier, users=users, users_problem=users_problem)
    return Triaged(
        service=service,
        mapped=mapped,
        environment=environment,
        tier=tier,
        users=users,
        priority=priority,
        decisions=[svc_decision, tier_decision, priority],
        escalates=rules.escalates(policy, tier=tier, users=users, priority=priority.value),
    )


class TriageMemo:
    """`triage` remembered by exactly the inputs the policy's rules read (the labels they name,
    plus source, and monitor id or title when a rule matches on them): alerts of one monitor or
    service share them, so the hot path decides once. Bounded; one per process and policy."""

    def __init__(self, policy: Policy, size: int = 4096) -> None:
        self.policy, self.size = policy, size
        rules_ = [rule for service in policy.services for rule in service.match]
        t = policy.triage
        self.keys = tuple(
            dict.fromkeys([*(k for r in rules_ for k in r.tags), *t.service_keys, *t.environment_keys, *t.users_keys])
        )
        self.by_monitor = any(r.monitor_ids for r in rules_)
        self.by_title = any(r.title_contains for r in rules_)
        self._memo: dict[tuple[Any, ...], Triaged] = {}

    def __call__(self, item: Incoming) -> Triaged:
        get = item.labels.get
        key = (
            item.source,
            item.monitor_id if self.by_monitor else None,
            item.title.lower() if self.by_title else None,
            *[get(k) for k in self.keys],
        )
        found = self._memo.get(key)
        if found is None:
            if len(self._memo) >= self.size:
                self._memo.clear()
            found = self._memo[key] = triage(self.policy, item)
        return found


RELATED_SHOWN = 20


def related_alerts(session: Session, incident_id: int, settings: Settings) -> Mapping[str, object]:
    """The room panel's firing alerts of the incident's services that it does not group (another
    environment, another incident, or none): shown, never joined."""
    services = select(IncidentService.service).where(IncidentService.incident_id == incident_id)
    where = (
        Alert.status == "firing",
        Alert.service.in_(services),
        or_(Alert.incident_id.is_(None), Alert.incident_id != incident_id),
    )
    rows = session.scalars(
        select(Alert).where(*where).order_by(Alert.first_seen_at.desc(), Alert.id.desc()).limit(RELATED_SHOWN)
    ).all()
    total = len(rows) if len(rows) < RELATED_SHOWN else session.scalar(select(func.count()).where(*where))
    return {"related": list(rows), "related_total": total}


def _open_alert(session: Session, item: Incoming) -> Alert | None:
    return session.scalar(
        select(Alert).where(
            Alert.dedup_key == item.dedup_key, Alert.source == item.source, Alert.open_key == item.dedup_key
        )
    )


def simulate(
    session: Session,
    *,
    policy: Policy,
    now: datetime,
    items: list[Incoming],
) -> list[dict[str, Any]]:
    """What each event would do; reads only, stores nothing."""
    out = []
    for item in items:
        t = triage(policy, item)
        started = rules.alert_start(policy, sent=item.occurred_at, now=now)  # a flapping episode's is not read
        row = _open_alert(session, item)
        svc = select(IncidentService.incident_id).where(IncidentService.service == t.service)
        open_incident = session.scalar(
            select(Incident)
            .where(
                Incident.id.in_(svc),
                Incident.state.in_(OPEN_STATES),
                Incident.updated_at >= now - policy.triage.grouping_window,
                func.coalesce(Incident.tier, rules.production_tier(policy)) == t.tier,  # environment groups
            )
            .order_by(Incident.id.desc())
            .limit(1)
        )
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
            window = format_duration(policy.unknown_impact.escalation_window)
            late = rules.escalation_due(policy, started=started, now=now) <= now
            action = f"open a triage record; declare if still firing after {window}" + (
                f" from its start ({started.isoformat()}): already past, at once" if late else ""
            )
        else:
            action = "open a triage record"
        decisions = list(t.decisions)
        if t.escalates:
            decisions.append(rules.escalated(policy, tier=t.tier, priority=t.priority.value))
        severity = rules.severity_for(policy, [(item.labels, t.tier)])
        decisions.append(severity)
        out.append(
            {
                "source": item.source,
                "dedup_key": item.dedup_key,
                "status": item.status,
                "transition": item.transition,
                "title": item.title,
                "service": t.service,
                "mapped": t.mapped,
                "environment": t.environment,
                "tier": t.tier,
                "users_per_hour": t.users,
                "priority": t.priority.value,
                "priority_rule": t.priority.rule,
                "escalates": t.escalates,
                "started_at": started.isoformat(),
                "severity": severity.value,
                "declare": must and item.status == "firing",
                "action": action,
                "rules": [d.rule for d in decisions],
                "decisions": [asdict(d) for d in decisions],
            }
        )
    return out
