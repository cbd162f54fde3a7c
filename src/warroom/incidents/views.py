"""ORM -> API shapes, shared by the JSON API, the CLI and the web UI."""

from __future__ import annotations

from sqlalchemy.orm import Session

from warroom.incidents import states
from warroom.incidents.models import Incident, StatusUpdate, TimelineEntry
from warroom.incidents.schemas import IncidentOut, TimelineOut, UpdateOut
from warroom.policy.schema import Policy

DETAIL_ALERTS = 100  # alerts listed in the incident JSON; GET /api/v1/alerts?incident= pages through all


def incident_out(incident: Incident, *, missing: list[str] | None = None) -> IncidentOut:
    return IncidentOut(
        id=incident.ref,
        number=incident.id,
        title=incident.title,
        state=incident.state,  # type: ignore[arg-type]
        priority=incident.priority,  # type: ignore[arg-type]
        severity=incident.severity,
        commander=incident.commander,
        declared_by=incident.declared_by,
        roles=dict(incident.roles or {}),
        services=incident.services,
        monitors=list(incident.monitors or []),
        teams=list(incident.teams or []),
        controller=incident.controller,
        acknowledged_by_team=incident.acknowledged_by_team,
        tracking_issue=incident.tracking_issue,
        sub_services=incident.sub_services,
        users_impacted=incident.users_impacted,
        impacts=incident.impacts,
        detection_method=incident.detection_method,
        pending_tasks=list(incident.pending_tasks or []),
        declared_automatically=incident.declared_automatically,
        first_alert_at=incident.first_alert_at,
        declared_at=incident.declared_at,
        acknowledged_at=incident.acknowledged_at,
        stable_at=incident.stable_at,
        resolved_at=incident.resolved_at,
        completed_at=incident.completed_at,
        last_update_at=incident.last_update_at,
        next_update_due_at=incident.next_update_due_at,
        missed_updates=incident.missed_updates,
        updated_at=incident.updated_at,
        allowed_transitions=states.allowed(incident.state),
        completion_missing=missing or [],
    )


def incident_full(session: Session, *, policy: Policy, incident: Incident) -> IncidentOut:
    from warroom.incidents import service

    missing = (
        service.completion_missing(session, policy=policy, incident=incident) if incident.state == "resolved" else []
    )
    from warroom.alerts import queries as alerts
    from warroom.alerts.views import alert_brief

    out = incident_out(incident, missing=missing)
    linked = alerts.for_incident(session, incident_id=incident.id, limit=DETAIL_ALERTS)
    out.alerts = [alert_brief(a) for a in linked.shown]
    out.alerts_total, out.alerts_firing = linked.total, linked.firing
    if incident.state != "completed":
        from warroom.incidents import command

        out.commander_problem = command.problem(session, policy=policy, handle=incident.commander)
    return out


def timeline_out(entry: TimelineEntry) -> TimelineOut:
    return TimelineOut(
        id=entry.id,
        occurred_at=entry.occurred_at,
        recorded_at=entry.recorded_at,
        kind=entry.kind,
        actor=entry.actor,
        text=entry.text,
        data=entry.data or {},
    )


def update_out(update: StatusUpdate) -> UpdateOut:
    return UpdateOut(
        id=update.id,
        message=update.message,
        state=update.state,
        priority=update.priority,
        severity=update.severity,
        actor=update.actor,
        automatic=update.automatic,
        created_at=update.created_at,
        due_at=update.due_at,
        on_time=update.on_time,
    )
