"""The prefilled status update: what changed since the last one, which alerts still fire, who spoke last."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from warroom.incidents.models import Incident, StatusUpdate, TimelineEntry
from warroom.ingest.models import Alert
from warroom.notifications.messages import age

# Timeline kinds that are bookkeeping, not news for the people following the incident.
QUIET = frozenset({"status_update", "auto_update", "acknowledged", "edited", "postmortem", "missed_update",
                   "reminder", "escalated", "declared"})
SELF_DESCRIBING = frozenset({"state_changed", "severity_changed", "priority_changed", "role_changed"})


def _hm(value: datetime) -> str:
    return value.strftime("%H:%M UTC")


def _line(entry: TimelineEntry) -> str:
    if entry.kind in SELF_DESCRIBING:
        return f"{_hm(entry.occurred_at)} {entry.text}"
    label = "Note" if entry.kind == "note" else entry.kind.replace("_", " ").capitalize()
    who = f" ({entry.actor})" if entry.kind == "note" else ""
    return f"{_hm(entry.occurred_at)} {label}{who}: {entry.text}"


@dataclass
class Inputs:
    """What a draft is made of, read from the database (one incident, or many at once)."""

    entries: list[TimelineEntry] = field(default_factory=list)  # since the last update, in true order
    alerts: list[Alert] = field(default_factory=list)
    last_human: StatusUpdate | None = None


def _since(incident: Incident) -> datetime:
    return incident.last_update_at or incident.declared_at


def gather(session: Session, incidents: list[Incident]) -> dict[int, Inputs]:
    """The inputs of many drafts in three queries (the automatic updates of a batch of due jobs)."""
    if not incidents:
        return {}
    since = {i.id: _since(i) for i in incidents}
    oldest = min(since.values())
    out = {i.id: Inputs() for i in incidents}
    for e in session.scalars(
            select(TimelineEntry).where(TimelineEntry.incident_id.in_(list(since)),
                                        or_(TimelineEntry.recorded_at > oldest, TimelineEntry.occurred_at > oldest))
            .order_by(TimelineEntry.occurred_at, TimelineEntry.id)):
        if e.recorded_at > since[e.incident_id] or e.occurred_at > since[e.incident_id]:
            out[e.incident_id].entries.append(e)
    for alert in session.scalars(select(Alert).where(Alert.incident_id.in_(list(since)))
                                 .order_by(Alert.first_seen_at, Alert.id)):
        out[alert.incident_id].alerts.append(alert)  # type: ignore[index]
    newest = (select(StatusUpdate.id, func.row_number().over(
        partition_by=StatusUpdate.incident_id,
        order_by=(StatusUpdate.created_at.desc(), StatusUpdate.id.desc())).label("n"))
        .where(StatusUpdate.incident_id.in_(list(since)), StatusUpdate.automatic.is_(False)).subquery())
    for update in session.scalars(select(StatusUpdate).join(newest, newest.c.id == StatusUpdate.id)
                                  .where(newest.c.n == 1)):
        out[update.incident_id].last_human = update
    return out


def build(session: Session, *, incident: Incident, now: datetime, inputs: Inputs | None = None) -> dict[str, Any]:
    """The draft as data and as text; the automatic update posts `text` as is (`inputs` from `gather`)."""
    since = _since(incident)
    if inputs is None:
        inputs = gather(session, [incident])[incident.id]
    entries, alerts, last_human = inputs.entries, inputs.alerts, inputs.last_human
    changes: list[dict[str, Any]] = [{"at": e.occurred_at, "kind": e.kind, "text": _line(e)}
                                     for e in entries if e.kind not in QUIET]
    for alert in alerts:
        if alert.first_seen_at > since:
            changes.append({"at": alert.first_seen_at, "kind": "alert_fired",
                            "text": f"{_hm(alert.first_seen_at)} Alert fired: {alert.title}"})
        if alert.resolved_at and alert.resolved_at > since:
            changes.append({"at": alert.resolved_at, "kind": "alert_recovered",
                            "text": f"{_hm(alert.resolved_at)} Alert recovered: {alert.title}"})
    changes.sort(key=lambda c: c["at"])
    firing: list[dict[str, Any]] = [{"title": a.title, "service": a.service, "since": a.first_seen_at}
              for a in alerts if a.status == "firing"]
    lines = [f"{incident.ref} is {incident.state} ({incident.priority} {incident.severity}), "
             f"commander {incident.commander}."]
    if changes:
        lines.append(f"Since the last update ({_hm(since)}, {age(now, since)} ago):")
        lines += [f"- {c['text']}" for c in changes]
    else:
        lines.append(f"No changes recorded since {_hm(since)} ({age(now, since)} ago).")
    if firing:
        lines.append("Still firing: " + "; ".join(
            f"{f['title']} since {_hm(f['since'])} ({age(now, f['since'])})" for f in firing))
    elif alerts:
        lines.append("No alert is firing.")
    if last_human:
        lines.append(f"Last human update {age(now, last_human.created_at)} ago by {last_human.actor}: "
                     f"{last_human.message.splitlines()[0][:300] if last_human.message else ''}")
    else:
        lines.append("No human status update yet.")
    return {"incident": incident.ref, "since": since, "changes": changes, "firing": firing,
            "last_human_update": ({"actor": last_human.actor, "at": last_human.created_at,
                                   "message": last_human.message} if last_human else None),
            "next_update_due_at": incident.next_update_due_at, "text": "\n".join(lines)}
