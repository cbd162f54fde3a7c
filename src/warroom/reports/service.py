"""Gather incident facts for a period (a few grouped queries) and summarize them."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import Executable

from warroom.alerts.models import Alert
from warroom.core.errors import Invalid
from warroom.deploys.models import OobRequest
from warroom.incidents.models import EscalationPage, Incident, IncidentService, StatusUpdate
from warroom.policy.schema import Policy
from warroom.reports import paging, rules
from warroom.reports.schemas import PagingReport, Report, ReportRow


def month_bounds(month: str) -> tuple[datetime, datetime]:
    """`2026-10` -> [2026-10-01, 2026-11-01) in UTC."""
    try:
        year_text, mon_text = month.split("-")
        year, mon = int(year_text), int(mon_text)
        start = datetime(year, mon, 1, tzinfo=UTC)
        if year < 1970:
            raise ValueError(month)
        end = datetime(year + (mon == 12), mon % 12 + 1, 1, tzinfo=UTC)  # 9999-12 has no end
    except ValueError:
        raise Invalid(f"month must look like 2026-10, got '{month}'", {"field": "month"}) from None
    return start, end


def _counts(session: Session, stmt: Executable) -> dict[int, int]:
    return {incident_id: int(n or 0) for incident_id, n in session.execute(stmt)}


def facts(session: Session, *, start: datetime, end: datetime) -> list[rules.IncidentFacts]:
    """One IncidentFacts per incident declared in [start, end)."""
    if end <= start:
        raise Invalid("'to' must be after 'from'", {"field": "to"})
    ids = select(Incident.id).where(Incident.declared_at >= start, Incident.declared_at < end)
    incidents = session.execute(
        select(
            Incident.id,
            Incident.declared_at,
            Incident.priority,
            Incident.severity,
            Incident.first_alert_at,
            Incident.acknowledged_at,
            Incident.stable_at,
            Incident.resolved_at,
            Incident.missed_updates,
        )
        .where(Incident.declared_at >= start, Incident.declared_at < end)
        .order_by(Incident.id)
    ).all()
    services: dict[int, list[str]] = {}
    for incident_id, service in session.execute(
        select(IncidentService.incident_id, IncidentService.service)
        .where(IncidentService.incident_id.in_(ids))
        .order_by(IncidentService.position)
    ):
        services.setdefault(incident_id, []).append(service)
    updates = {
        row[0]: (int(row[1]), int(row[2] or 0))
        for row in session.execute(
            select(StatusUpdate.incident_id, func.count(), func.sum(case((StatusUpdate.on_time.is_(True), 1), else_=0)))
            .where(StatusUpdate.incident_id.in_(ids))
            .group_by(StatusUpdate.incident_id)
        )
    }
    alerts = _counts(
        session, select(Alert.incident_id, func.count()).where(Alert.incident_id.in_(ids)).group_by(Alert.incident_id)
    )
    oob_all = _counts(
        session,
        select(OobRequest.incident_id, func.count())
        .where(OobRequest.incident_id.in_(ids), OobRequest.state != "draft")
        .group_by(OobRequest.incident_id),
    )
    oob_deployed = _counts(
        session,
        select(OobRequest.incident_id, func.count())
        .where(OobRequest.incident_id.in_(ids), OobRequest.deployed_at.is_not(None))
        .group_by(OobRequest.incident_id),
    )
    first_page = dict(
        session.execute(
            select(EscalationPage.incident_id, func.min(EscalationPage.paged_at))
            .where(EscalationPage.incident_id.in_(ids))
            .group_by(EscalationPage.incident_id)
        ).all()
    )
    out = []
    for inc in incidents:
        n_updates, on_time = updates.get(inc.id, (0, 0))
        out.append(
            rules.IncidentFacts(
                id=inc.id,
                declared_at=inc.declared_at,
                priority=inc.priority,
                severity=inc.severity,
                services=tuple(services.get(inc.id, [])),
                start=inc.first_alert_at or inc.declared_at,
                acknowledged_at=inc.acknowledged_at,
                first_paged_at=first_page.get(inc.id),
                mitigated_at=inc.stable_at or inc.resolved_at,
                resolved_at=inc.resolved_at,
                updates=n_updates,
                updates_on_time=on_time,
                missed_updates=inc.missed_updates or 0,
                alerts=alerts.get(inc.id, 0),
                oob_requests=oob_all.get(inc.id, 0),
                oob_deploys=oob_deployed.get(inc.id, 0),
            )
        )
    return out


def build(
    session: Session,
    *,
    policy: Policy,
    now: datetime,
    start: datetime,
    end: datetime,
    group_by: str,
    known: list[rules.IncidentFacts] | None = None,
) -> Report:
    """The figures by `group_by`; `known`: the period's facts already read (one read, several groupings)."""
    if group_by not in rules.GROUPS:
        raise Invalid(f"group_by must be one of {', '.join(rules.GROUPS)}", {"field": "group_by"})
    found = known if known is not None else facts(session, start=start, end=end)
    rows, total = rules.summarize(found, group_by, [s.key for s in policy.services])
    return Report(
        start=start,
        end=end,
        group_by=group_by,
        generated_at=now,  # type: ignore[arg-type]
        rows=[ReportRow(**rules.as_dict(r)) for r in rows],  # type: ignore[arg-type]
        total=ReportRow(**rules.as_dict(total)),
    )  # type: ignore[arg-type]


def monthly_markdown(session: Session, *, policy: Policy, now: datetime, month: str) -> str:
    """The leadership report for one calendar month (UTC), by priority, severity and service."""
    from warroom.reports import formats

    start, end = month_bounds(month)
    known = facts(session, start=start, end=end)
    built = {
        g: build(session, policy=policy, now=now, start=start, end=end, group_by=g, known=known)
        for g in ("priority", "severity", "service")
    }
    return formats.monthly_markdown(
        team=policy.team,
        month=month,
        by_priority=built["priority"],
        by_severity=built["severity"],
        by_service=built["service"],
        paging=paging_report(session, policy=policy, now=now, start=start, end=end),
    )


def paging_report(session: Session, *, policy: Policy, now: datetime, start: datetime, end: datetime) -> PagingReport:
    """Every level paged in [start, end): per person and month, out of hours, acknowledged by level."""
    if end <= start:
        raise Invalid("'to' must be after 'from'", {"field": "to"})
    rows = session.scalars(
        select(EscalationPage)
        .where(EscalationPage.paged_at >= start, EscalationPage.paged_at < end)
        .order_by(EscalationPage.paged_at, EscalationPage.id)
    ).all()
    facts = [
        paging.PageFacts(r.incident_id, r.level, tuple(r.users or ()), r.paged_at, r.acknowledged_at) for r in rows
    ]
    figures = paging.summarize(facts, policy.paging.working_hours)
    return PagingReport.model_validate({"start": start, "end": end, "generated_at": now, **figures})
