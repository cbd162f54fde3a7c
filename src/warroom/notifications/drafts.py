"""The prefilled status update: what changed, what still fires, who spoke last; a few named, the rest counted."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, String, case, func, literal, literal_column, or_, select, union_all
from sqlalchemy.orm import Session

from warroom.db import UTCDateTime
from warroom.incidents.models import Incident, StatusUpdate, TimelineEntry
from warroom.ingest.models import Alert
from warroom.notifications.blocks import cut
from warroom.notifications.messages import age

# Timeline kinds that are bookkeeping, not news for the people following the incident.
QUIET = frozenset({"status_update", "auto_update", "acknowledged", "edited", "postmortem", "missed_update",
                   "reminder", "escalated", "declared"})
SELF_DESCRIBING = frozenset({"state_changed", "severity_changed", "priority_changed", "role_changed"})
# Alert timeline events the alert rows already tell ("Alert fired" / "Alert recovered" lines).
ALERT_ROW_EVENTS = ("joined", "declared", "recovered")
ENTRIES_SHOWN = 30  # newest timeline entries recorded since the last update, per incident
CHANGES_SHOWN = 20  # newest alerts that fired or recovered since the last update, per incident
FIRING_SHOWN = 10  # longest-firing alerts named in "Still firing"
LINE_LIMIT = 200  # characters of one change line (a note may hold 20,000)
TITLE_LIMIT = 120  # characters of an alert title in "Still firing"
TEXT_LIMIT = 20000  # what a person may post (UpdateIn.message); the caps above stay far below it
BATCH = 100  # incidents per set of queries: two UNION ALL terms each, SQLite allows 500
Parts = Select[*tuple[Any, ...]]  # a SELECT of any columns


def _hm(value: datetime) -> str:
    return value.strftime("%H:%M UTC")


def _line(entry: TimelineEntry) -> str:
    if entry.kind in SELF_DESCRIBING:
        return cut(f"{_hm(entry.occurred_at)} {entry.text}", LINE_LIMIT)
    label = "Note" if entry.kind == "note" else entry.kind.replace("_", " ").capitalize()
    who = f" ({entry.actor})" if entry.kind == "note" else ""
    return cut(f"{_hm(entry.occurred_at)} {label}{who}: {entry.text}", LINE_LIMIT)


@dataclass(frozen=True)
class AlertChange:
    at: datetime
    kind: str  # alert_fired | alert_recovered
    title: str


@dataclass(frozen=True)
class FiringAlert:
    title: str
    service: str
    since: datetime


@dataclass
class Inputs:
    """What a draft is made of, read from the database (one incident, or many at once)."""

    entries: list[TimelineEntry] = field(default_factory=list)  # newest since the last update, true order
    entries_total: int = 0
    changes: list[AlertChange] = field(default_factory=list)  # newest fired/recovered since the last update
    firing: list[FiringAlert] = field(default_factory=list)  # longest-firing first
    alerts_total: int = 0
    firing_count: int = 0
    fired_count: int = 0
    recovered_count: int = 0
    last_human: StatusUpdate | None = None


def _since(incident: Incident) -> datetime:
    return incident.last_update_at or incident.declared_at


def _bound(incident: Incident) -> datetime:
    """Strictly after the last update; before any update, everything from the declaration on."""
    return incident.last_update_at or incident.declared_at - timedelta(microseconds=1)


def _per_incident(column: Any, bounds: dict[int, datetime]) -> ColumnElement[datetime]:
    """Each incident's own bound, in SQL (one query serves a whole batch)."""
    return case(*[(column == k, literal(v, UTCDateTime())) for k, v in bounds.items()])


def _entries(session: Session, bounds: dict[int, datetime], out: dict[int, Inputs]) -> None:
    since = _per_incident(TimelineEntry.incident_id, bounds)
    event = func.coalesce(TimelineEntry.data["event"].as_string(), "")
    ranked = (select(TimelineEntry.id, func.row_number().over(
        partition_by=TimelineEntry.incident_id,
        order_by=(TimelineEntry.recorded_at.desc(), TimelineEntry.id.desc())).label("n"),
        func.count().over(partition_by=TimelineEntry.incident_id).label("total"))
        .where(TimelineEntry.incident_id.in_(list(bounds)),
               or_(TimelineEntry.recorded_at > since, TimelineEntry.occurred_at > since),
               TimelineEntry.kind.not_in(QUIET),
               or_(TimelineEntry.kind != "alert", event.not_in(ALERT_ROW_EVENTS)))
        .subquery())
    for entry, total in session.execute(
            select(TimelineEntry, ranked.c.total).join(ranked, ranked.c.id == TimelineEntry.id)
            .where(ranked.c.n <= ENTRIES_SHOWN).order_by(TimelineEntry.occurred_at, TimelineEntry.id)):
        out[entry.incident_id].entries.append(entry)
        out[entry.incident_id].entries_total = total


def _alert_counts(session: Session, bounds: dict[int, datetime], out: dict[int, Inputs]) -> None:
    """Three GROUP BY counts, each served by an index (alone, covering for the first two)."""
    ids = list(bounds)
    since = _per_incident(Alert.incident_id, bounds)
    for incident_id, total, fired in session.execute(
            select(Alert.incident_id, func.count(), func.count(case((Alert.first_seen_at > since, 1))))
            .where(Alert.incident_id.in_(ids)).group_by(Alert.incident_id)):
        out[incident_id].alerts_total, out[incident_id].fired_count = total, fired  # type: ignore[index]
    for incident_id, firing in session.execute(
            select(Alert.incident_id, func.count()).where(Alert.status == "firing", Alert.incident_id.in_(ids))
            .group_by(Alert.incident_id)):
        out[incident_id].firing_count = firing  # type: ignore[index]
    for incident_id, recovered in session.execute(
            select(Alert.incident_id, func.count())
            .where(Alert.status == "resolved", Alert.incident_id.in_(ids), Alert.resolved_at > since)
            .group_by(Alert.incident_id)):
        out[incident_id].recovered_count = recovered  # type: ignore[index]


def _each(parts: list[Parts]) -> Any:
    """One statement for a batch: per incident a LIMITed index range, glued by UNION ALL."""
    wrapped = [p.subquery().select() for p in parts]
    return wrapped[0] if len(wrapped) == 1 else union_all(*wrapped)


def _alert_changes(session: Session, bounds: dict[int, datetime], out: dict[int, Inputs]) -> None:
    def kind(name: str) -> Any:
        return literal_column(f"'{name}'", String).label("kind")

    parts: list[Parts] = []
    for incident_id, since in bounds.items():
        parts.append(select(Alert.incident_id, Alert.id, Alert.title, Alert.first_seen_at.label("at"),
                            kind("alert_fired"))
                     .where(Alert.incident_id == incident_id, Alert.first_seen_at > since)
                     .order_by(Alert.first_seen_at.desc(), Alert.id.desc()).limit(CHANGES_SHOWN))
        parts.append(select(Alert.incident_id, Alert.id, Alert.title, Alert.resolved_at.label("at"),
                            kind("alert_recovered"))
                     .where(Alert.status == "resolved", Alert.incident_id == incident_id, Alert.resolved_at > since)
                     .order_by(Alert.resolved_at.desc(), Alert.id.desc()).limit(CHANGES_SHOWN))
    rows = sorted(session.execute(_each(parts)), key=lambda r: (r.at, r.id), reverse=True)
    for row in rows:
        got = out[row.incident_id]
        if len(got.changes) < CHANGES_SHOWN:  # the newest of both kinds together
            got.changes.append(AlertChange(at=row.at, kind=row.kind, title=row.title))


def _firing(session: Session, bounds: dict[int, datetime], out: dict[int, Inputs]) -> None:
    parts: list[Parts] = [
        select(Alert.incident_id, Alert.id, Alert.title, Alert.service, Alert.first_seen_at)
        .where(Alert.status == "firing", Alert.incident_id == incident_id)
        .order_by(Alert.first_seen_at, Alert.id).limit(FIRING_SHOWN) for incident_id in bounds]
    for row in sorted(session.execute(_each(parts)), key=lambda r: (r.first_seen_at, r.id)):
        out[row.incident_id].firing.append(FiringAlert(title=row.title, service=row.service,
                                                        since=row.first_seen_at))


def gather(session: Session, incidents: list[Incident]) -> dict[int, Inputs]:
    """The inputs of many drafts (a batch of due jobs): seven queries per 100 incidents, whatever the storm."""
    out = {i.id: Inputs() for i in incidents}
    for start in range(0, len(incidents), BATCH):
        _gather(session, {i.id: _bound(i) for i in incidents[start:start + BATCH]}, out)
    return out


def _gather(session: Session, bounds: dict[int, datetime], out: dict[int, Inputs]) -> None:
    _entries(session, bounds, out)
    _alert_counts(session, bounds, out)
    _alert_changes(session, bounds, out)
    _firing(session, bounds, out)
    newest = (select(StatusUpdate.id, func.row_number().over(
        partition_by=StatusUpdate.incident_id,
        order_by=(StatusUpdate.created_at.desc(), StatusUpdate.id.desc())).label("n"))
        .where(StatusUpdate.incident_id.in_(list(bounds)), StatusUpdate.automatic.is_(False)).subquery())
    for update in session.scalars(select(StatusUpdate).join(newest, newest.c.id == StatusUpdate.id)
                                  .where(newest.c.n == 1)):
        out[update.incident_id].last_human = update


def _more(count: int, what: str) -> str:
    return f"- ... and {count:,} more {what}"


def build(session: Session, *, incident: Incident, now: datetime, inputs: Inputs | None = None) -> dict[str, Any]:
    """The draft as data and as text; the automatic update posts `text` as is (`inputs` from `gather`)."""
    since = _since(incident)
    if inputs is None:
        inputs = gather(session, [incident])[incident.id]
    last_human = inputs.last_human
    changes: list[dict[str, Any]] = [{"at": e.occurred_at, "kind": e.kind, "text": _line(e)}
                                     for e in inputs.entries if e.kind not in QUIET]
    verb = {"alert_fired": "fired", "alert_recovered": "recovered"}
    changes += [{"at": c.at, "kind": c.kind,
                 "text": cut(f"{_hm(c.at)} Alert {verb[c.kind]}: {c.title}", LINE_LIMIT)} for c in inputs.changes]
    changes.sort(key=lambda c: c["at"])
    shown = {k: sum(c.kind == k for c in inputs.changes) for k in verb}
    omitted = {"alerts fired": inputs.fired_count - shown["alert_fired"],
               "alerts recovered": inputs.recovered_count - shown["alert_recovered"],
               "timeline entries (see the incident's timeline)": inputs.entries_total - len(inputs.entries)}
    firing: list[dict[str, Any]] = [{"title": a.title, "service": a.service, "since": a.since} for a in inputs.firing]
    lines = [f"{incident.ref} is {incident.state} ({incident.priority} {incident.severity}), "
             f"commander {incident.commander}."]
    if changes:
        what = "the last update" if incident.last_update_at else "the declaration"
        lines.append(f"Since {what} ({_hm(since)}, {age(now, since)} ago):")
        lines += [f"- {c['text']}" for c in changes]
        lines += [_more(n, what) for what, n in omitted.items() if n > 0]
    else:
        lines.append(f"No changes recorded since {_hm(since)} ({age(now, since)} ago).")
    if firing:
        named = "; ".join(f"{cut(f['title'], TITLE_LIMIT)} since {_hm(f['since'])} ({age(now, f['since'])})"
                          for f in firing)
        rest = inputs.firing_count - len(firing)
        lines.append(f"Still firing: {named}" + (f"; and {rest:,} more ({inputs.firing_count:,} in all)"
                                                  if rest > 0 else ""))
    elif inputs.alerts_total:
        lines.append("No alert is firing.")
    if last_human:
        lines.append(f"Last human update {age(now, last_human.created_at)} ago by {last_human.actor}: "
                     f"{last_human.message.splitlines()[0][:300] if last_human.message else ''}")
    else:
        lines.append("No human status update yet.")
    return {"incident": incident.ref, "since": since, "changes": changes, "firing": firing,
            "firing_count": inputs.firing_count, "fired_count": inputs.fired_count,
            "recovered_count": inputs.recovered_count, "alerts_total": inputs.alerts_total,
            "changes_omitted": sum(n for n in omitted.values() if n > 0),
            "last_human_update": ({"actor": last_human.actor, "at": last_human.created_at,
                                   "message": last_human.message} if last_human else None),
            "next_update_due_at": incident.next_update_due_at, "text": cut("\n".join(lines), TEXT_LIMIT)}
