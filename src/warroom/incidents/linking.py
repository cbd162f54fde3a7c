"""Alerts attached to incidents by people: at declaration, attach, detach, move; each on the timeline."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from warroom.alerts.models import Alert
from warroom.core.errors import Conflict, Invalid, NotFound
from warroom.incidents.models import Incident

MAX_AT_ONCE = 500  # alert ids per attach request


def _label(a: Alert) -> str:
    return f"{a.title} [{a.source}, {a.service}, {a.priority}]"


def _alerts(session: Session, alert_ids: list[int]) -> list[Alert]:
    """The alerts, locked, in id order; every id must exist."""
    ids = sorted(set(alert_ids))
    if not ids:
        raise Invalid("name at least one alert", {"field": "alert_ids"})
    if len(ids) > MAX_AT_ONCE:
        raise Invalid(f"at most {MAX_AT_ONCE} alerts at once", {"field": "alert_ids"})
    rows = list(session.scalars(select(Alert).where(Alert.id.in_(ids)).order_by(Alert.id).with_for_update()))
    missing = sorted(set(ids) - {a.id for a in rows})
    if missing:
        raise NotFound(f"no alert {', '.join(map(str, missing))}", {"field": "alert_ids", "missing": missing})
    return rows


def _entry(
    session: Session, incident: Incident, *, now: datetime, actor: str, a: Alert, event: str, text: str, **extra: object
) -> None:
    from warroom.incidents import service as incidents

    incidents.add_timeline(
        session,
        incident,
        now=now,
        actor=actor,
        kind="alert",
        text=text,
        data={
            "alert_id": a.id,
            "event": event,
            "source": a.source,
            "dedup_key": a.dedup_key,
            "status": a.status,
            "priority": a.priority,
            "service": a.service,
            **extra,
        },
    )


def attach(
    session: Session, *, now: datetime, actor: str, incident: Incident, alert_ids: list[int], declaring: bool = False
) -> list[Alert]:
    """Link the alerts to `incident`; one already in another incident is moved (both timelines say
    so). The incident's first alert time follows an alert that started earlier (MTTA from the alert)."""
    from warroom.incidents import service as incidents

    if incident.state == "completed":
        raise Conflict(f"{incident.ref} is completed; its alerts are part of the record")
    rows = _alerts(session, alert_ids)
    sources = {a.incident_id for a in rows if a.incident_id not in (None, incident.id)}
    others = {i.id: i for i in (incidents.get(session, sid, for_update=True) for sid in sorted(sources))}  # type: ignore[arg-type]
    done = [o.ref for o in others.values() if o.state == "completed"]
    if done:
        raise Conflict(f"{', '.join(done)} is completed: its alerts stay with it", {"incidents": done})
    changed = []
    for a in rows:
        if a.incident_id == incident.id:
            continue
        source = others.get(a.incident_id) if a.incident_id is not None else None
        if source is not None:
            _entry(
                session,
                source,
                now=now,
                actor=actor,
                a=a,
                event="moved_out",
                text=f"Alert {a.id} moved to {incident.ref} by {actor}: {_label(a)}",
                to=incident.ref,
            )
            source.updated_at = now
            what, event = f"moved from {source.ref} by {actor}", "moved_in"
        else:
            what, event = ("attached at declaration" if declaring else f"attached by {actor}"), "attached"
        a.incident_id = incident.id
        _entry(session, incident, now=now, actor=actor, a=a, event=event, text=f"Alert {a.id} {what}: {_label(a)}")
        start = incident.first_alert_at or incident.declared_at
        if a.first_seen_at < start:
            incident.first_alert_at = a.first_seen_at
        changed.append(a)
    incident.updated_at = now
    session.flush()
    return changed


def detach(session: Session, *, now: datetime, actor: str, incident: Incident, alert_id: int) -> Alert:
    """Unlink one alert: it is "not in an incident" again (the dashboard lists it while it fires)."""
    if incident.state == "completed":
        raise Conflict(f"{incident.ref} is completed; its alerts are part of the record")
    (a,) = _alerts(session, [alert_id])
    if a.incident_id != incident.id:
        raise Conflict(f"alert {a.id} is not in {incident.ref}", {"field": "alert_id"})
    a.incident_id = None
    _entry(
        session,
        incident,
        now=now,
        actor=actor,
        a=a,
        event="detached",
        text=f"Alert {a.id} detached by {actor}: {_label(a)}",
    )
    incident.updated_at = now
    session.flush()
    return a


def declaration_fields(session: Session, alert_ids: list[int]) -> tuple[list[str], str, datetime, int]:
    """What declaring from alerts fills in when the person did not: monitors (the alerts' titles),
    the detection method, the first alert time and the tier the incident groups (the most
    production of theirs)."""
    rows = _alerts(session, alert_ids)
    sources = sorted({a.source for a in rows})
    monitors = list(dict.fromkeys(a.title[:200] for a in rows))[:20]
    return monitors, f"alert ({', '.join(sources)})", min(a.first_seen_at for a in rows), min(a.tier for a in rows)
