"""ORM -> API shapes (the schemas read the rows: from_attributes), shared by the JSON API, the CLI and the web UI."""

from __future__ import annotations

from sqlalchemy.orm import Session

from warroom.incidents.models import Incident, StatusUpdate, TimelineEntry
from warroom.incidents.schemas import IncidentOut, TimelineOut, UpdateOut
from warroom.policy.schema import Policy

DETAIL_ALERTS = 100  # alerts listed in the incident JSON; GET /api/v1/alerts?incident= pages through all


def incident_out(incident: Incident, *, missing: list[str] | None = None) -> IncidentOut:
    out = IncidentOut.model_validate(incident)
    out.completion_missing = missing or []
    return out


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
    return TimelineOut.model_validate(entry)


def update_out(update: StatusUpdate) -> UpdateOut:
    return UpdateOut.model_validate(update)
