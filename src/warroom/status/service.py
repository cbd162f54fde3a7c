"""Each policy service's live status, read by outage banners and the public /status page."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from warroom.alerts.models import Alert
from warroom.core.errors import NotFound
from warroom.incidents.models import Incident, IncidentService
from warroom.incidents.states import OPEN_STATES
from warroom.policy.schema import Policy
from warroom.status import rules
from warroom.status.schemas import PublicIncident, ServiceStatusOut, StatusOut


def _open_incidents(session: Session) -> dict[str, list[Incident]]:
    rows = session.execute(
        select(IncidentService.service, Incident)
        .join(Incident, Incident.id == IncidentService.incident_id)
        .where(Incident.state.in_(OPEN_STATES))
        .order_by(Incident.declared_at, Incident.id)
    ).all()
    by_service: dict[str, list[Incident]] = defaultdict(list)
    for service, incident in rows:
        by_service[service].append(incident)
    return by_service


def _unhandled_alerts(session: Session, policy: Policy) -> dict[str, datetime]:
    """Firing alerts of the watched tiers with no open incident: service -> first seen."""
    open_ids = select(Incident.id).where(Incident.state.in_(OPEN_STATES))
    rows = session.execute(
        select(Alert.service, Alert.first_seen_at).where(
            Alert.status == "firing",
            Alert.tier.in_(policy.status_page.alert_tiers),
            or_(Alert.incident_id.is_(None), Alert.incident_id.not_in(open_ids)),
        )
    ).all()
    found: dict[str, datetime] = {}
    for service, first_seen in rows:
        if service not in found or first_seen < found[service]:
            found[service] = first_seen
    return found


def _one(
    policy: Policy, key: str, name: str, incidents: list[Incident], alert_since: datetime | None
) -> ServiceStatusOut:
    page = policy.status_page
    public = []
    for inc in incidents:
        public.append(
            PublicIncident(
                title=inc.title,
                status=rules.incident_status(
                    severity=inc.severity,
                    state=inc.state,
                    severity_status=page.severity_status,
                    stable_severity_status=page.stable_severity_status,
                    unmapped_severity=page.unmapped_severity,
                ),
                since=inc.declared_at,
                last_update_at=inc.last_update_at or inc.declared_at,
            )
        )
    status = rules.service_status(
        incident_statuses=[p.status for p in public],
        firing_alerts_without_incident=1 if alert_since else 0,
        alert_status=page.firing_alert_without_incident,
    )
    times = [p.last_update_at for p in public] + ([alert_since] if alert_since else [])
    return ServiceStatusOut(
        service=key,
        name=name,
        status=status,  # type: ignore[arg-type]
        incidents=public,
        updated_at=max(times) if times else None,
    )


def all_services(session: Session, *, policy: Policy, now: datetime) -> StatusOut:
    incidents = _open_incidents(session)
    alerts = _unhandled_alerts(session, policy)
    services = [_one(policy, s.key, s.name, incidents.get(s.key, []), alerts.get(s.key)) for s in policy.services]
    return StatusOut(
        status=rules.worst(s.status for s in services),  # type: ignore[arg-type]
        generated_at=now,
        services=services,
    )


def one_service(session: Session, *, policy: Policy, key: str) -> ServiceStatusOut:
    svc = policy.service(key)
    if svc is None:
        raise NotFound(f"no service '{key}'", {"known": [s.key for s in policy.services]})
    incidents = _open_incidents(session).get(key, [])
    return _one(policy, svc.key, svc.name, incidents, _unhandled_alerts(session, policy).get(key))
