"""The prefilled status update: what changed, what still fires, who spoke last; a few named, the rest counted.
Times are absolute (09:05 UTC), never "7m ago": the text may be posted, or delivered, much later."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, func, or_, select
from sqlalchemy.orm import Session

from warroom.alerts.models import Alert
from warroom.incidents.models import Incident, StatusUpdate, TimelineEntry
from warroom.notifications.blocks import cut

# Timeline kinds that are bookkeeping, not news for the people following the incident.
QUIET = frozenset(
    {
        "status_update",
        "auto_update",
        "acknowledged",
        "edited",
        "postmortem",
        "missed_update",
        "reminder",
        "escalated",
        "declared",
    }
)
SELF_DESCRIBING = frozenset({"state_changed", "severity_changed", "priority_changed", "role_changed"})
# Alert timeline events the alert rows already tell ("Alert fired" / "Alert recovered" lines).
ALERT_ROW_EVENTS = ("joined", "declared", "recovered")
ENTRIES_SHOWN = 30  # newest timeline entries recorded since the last update, per incident
CHANGES_SHOWN = 20  # newest alerts that fired or recovered since the last update, per incident
FIRING_SHOWN = 10  # longest-firing alerts named in "Still firing"
LINE_LIMIT = 200  # characters of one change line (a note may hold 20,000)
TITLE_LIMIT = 120  # characters of an alert title in "Still firing"
TEXT_LIMIT = 20000  # what a person may post (UpdateIn.message); the caps above stay far below it
BATCH = 100  # incidents per set of queries
SMALL = 200  # alerts up to which an incident's alerts are read whole (beyond: a storm, read by ranges)


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


def _entries(session: Session, bounds: dict[int, datetime], out: dict[int, Inputs]) -> None:
    """The newest news entries per incident: one fixed-shape query for the batch (a window
    numbers each incident's entries, newest first), each incident's own bound applied here;
    the exact count is asked only of an incident that has more than it shows."""
    event = func.coalesce(TimelineEntry.data["event"].as_string(), "")
    news = (TimelineEntry.kind.not_in(QUIET), or_(TimelineEntry.kind != "alert", event.not_in(ALERT_ROW_EVENTS)))
    ranked = (
        select(
            TimelineEntry.id,
            func.row_number()
            .over(
                partition_by=TimelineEntry.incident_id,
                order_by=(TimelineEntry.recorded_at.desc(), TimelineEntry.id.desc()),
            )
            .label("n"),
        )
        .where(TimelineEntry.incident_id.in_(list(bounds)), TimelineEntry.recorded_at > min(bounds.values()), *news)
        .subquery()
    )
    for entry in session.scalars(
        select(TimelineEntry)
        .join(ranked, ranked.c.id == TimelineEntry.id)
        .where(ranked.c.n <= ENTRIES_SHOWN + 1)
        .order_by(TimelineEntry.occurred_at, TimelineEntry.id)
    ):
        if entry.recorded_at > bounds[entry.incident_id]:
            out[entry.incident_id].entries.append(entry)
    for incident_id, bound in bounds.items():
        got = out[incident_id]
        got.entries_total = len(got.entries)
        if len(got.entries) > ENTRIES_SHOWN:  # more than shown: count them, keep the newest
            got.entries_total = (
                session.scalar(
                    select(func.count())
                    .select_from(TimelineEntry)
                    .where(TimelineEntry.incident_id == incident_id, TimelineEntry.recorded_at > bound, *news)
                )
                or 0
            )
            newest = {e.id for e in sorted(got.entries, key=lambda e: (e.recorded_at, e.id))[-ENTRIES_SHOWN:]}
            got.entries = [e for e in got.entries if e.id in newest]


def _small(session: Session, bounds: dict[int, datetime], out: dict[int, Inputs]) -> None:
    """Incidents with few alerts (nearly all): every alert in one query, the rest done here."""
    rows = session.execute(
        select(
            Alert.incident_id,
            Alert.id,
            Alert.title,
            Alert.service,
            Alert.status,
            Alert.first_seen_at,
            Alert.resolved_at,
        ).where(Alert.incident_id.in_(list(bounds)))
    )
    changes: dict[int, list[tuple[datetime, int, AlertChange]]] = {k: [] for k in bounds}
    firing: dict[int, list[tuple[datetime, int, FiringAlert]]] = {k: [] for k in bounds}
    for r in rows:
        got, since = out[r.incident_id], bounds[r.incident_id]
        if r.first_seen_at > since:
            got.fired_count += 1
            changes[r.incident_id].append((r.first_seen_at, r.id, AlertChange(r.first_seen_at, "alert_fired", r.title)))
        if r.status == "resolved" and r.resolved_at is not None and r.resolved_at > since:
            got.recovered_count += 1
            changes[r.incident_id].append((r.resolved_at, r.id, AlertChange(r.resolved_at, "alert_recovered", r.title)))
        if r.status == "firing":
            firing[r.incident_id].append((r.first_seen_at, r.id, FiringAlert(r.title, r.service, r.first_seen_at)))
    for incident_id in bounds:
        newest = sorted(changes[incident_id], key=lambda c: (c[0], c[1]), reverse=True)[:CHANGES_SHOWN]
        out[incident_id].changes = [c for _, _, c in newest]
        out[incident_id].firing = [
            f for _, _, f in sorted(firing[incident_id], key=lambda f: (f[0], f[1]))[:FIRING_SHOWN]
        ]


def _storm(session: Session, incident_id: int, since: datetime, got: Inputs) -> None:
    """An incident with many alerts: LIMITed index ranges and index-only counts, never its rows."""

    def count(*where: Any) -> int:
        return (
            session.scalar(select(func.count()).select_from(Alert).where(Alert.incident_id == incident_id, *where)) or 0
        )

    got.fired_count = count(Alert.first_seen_at > since)
    got.recovered_count = count(Alert.status == "resolved", Alert.resolved_at > since)
    fired = session.execute(
        select(Alert.id, Alert.title, Alert.first_seen_at)
        .where(Alert.incident_id == incident_id, Alert.first_seen_at > since)
        .order_by(Alert.first_seen_at.desc(), Alert.id.desc())
        .limit(CHANGES_SHOWN)
    )
    recovered = session.execute(
        select(Alert.id, Alert.title, Alert.resolved_at)
        .where(Alert.status == "resolved", Alert.incident_id == incident_id, Alert.resolved_at > since)
        .order_by(Alert.resolved_at.desc(), Alert.id.desc())
        .limit(CHANGES_SHOWN)
    )
    both = [(r.first_seen_at, r.id, AlertChange(r.first_seen_at, "alert_fired", r.title)) for r in fired]
    both += [(r.resolved_at, r.id, AlertChange(r.resolved_at, "alert_recovered", r.title)) for r in recovered]
    got.changes = [c for _, _, c in sorted(both, key=lambda c: (c[0], c[1]), reverse=True)[:CHANGES_SHOWN]]
    got.firing = [
        FiringAlert(r.title, r.service, r.first_seen_at)
        for r in session.execute(
            select(Alert.title, Alert.service, Alert.first_seen_at)
            .where(Alert.status == "firing", Alert.incident_id == incident_id)
            .order_by(Alert.first_seen_at, Alert.id)
            .limit(FIRING_SHOWN)
        )
    ]


def gather(session: Session, incidents: list[Incident]) -> dict[int, Inputs]:
    """The inputs of many drafts (a batch of due jobs): four fixed-shape queries per batch of
    incidents, plus a few LIMITed ones per incident with more alerts than SMALL."""
    out = {i.id: Inputs() for i in incidents}
    for start in range(0, len(incidents), BATCH):
        _gather(session, {i.id: _bound(i) for i in incidents[start : start + BATCH]}, out)
    return out


def _gather(session: Session, bounds: dict[int, datetime], out: dict[int, Inputs]) -> None:
    _entries(session, bounds, out)
    for incident_id, total, firing in session.execute(
        select(Alert.incident_id, func.count(), func.count(case((Alert.status == "firing", 1))))
        .where(Alert.incident_id.in_(list(bounds)))
        .group_by(Alert.incident_id)
    ):
        out[incident_id].alerts_total, out[incident_id].firing_count = total, firing  # type: ignore[index]
    small = {k: v for k, v in bounds.items() if out[k].alerts_total <= SMALL}
    if any(out[k].alerts_total for k in small):
        _small(session, {k: v for k, v in small.items() if out[k].alerts_total}, out)
    for incident_id in bounds.keys() - small.keys():
        _storm(session, incident_id, bounds[incident_id], out[incident_id])
    newest = (
        select(
            StatusUpdate.id,
            func.row_number()
            .over(
                partition_by=StatusUpdate.incident_id, order_by=(StatusUpdate.created_at.desc(), StatusUpdate.id.desc())
            )
            .label("n"),
        )
        .where(StatusUpdate.incident_id.in_(list(bounds)), StatusUpdate.automatic.is_(False))
        .subquery()
    )
    for update in session.scalars(
        select(StatusUpdate).join(newest, newest.c.id == StatusUpdate.id).where(newest.c.n == 1)
    ):
        out[update.incident_id].last_human = update


def _more(count: int, what: str) -> str:
    return f"- ... and {count:,} more {what}"


def build(session: Session, *, incident: Incident, now: datetime, inputs: Inputs | None = None) -> dict[str, Any]:
    """The draft as data and as text; the automatic update posts `text` as is (`inputs` from `gather`)."""
    since = _since(incident)
    if inputs is None:
        inputs = gather(session, [incident])[incident.id]
    last_human = inputs.last_human
    changes: list[dict[str, Any]] = [
        {"at": e.occurred_at, "kind": e.kind, "text": _line(e)} for e in inputs.entries if e.kind not in QUIET
    ]
    verb = {"alert_fired": "fired", "alert_recovered": "recovered"}
    changes += [
        {"at": c.at, "kind": c.kind, "text": cut(f"{_hm(c.at)} Alert {verb[c.kind]}: {c.title}", LINE_LIMIT)}
        for c in inputs.changes
    ]
    changes.sort(key=lambda c: c["at"])
    shown = {k: sum(c.kind == k for c in inputs.changes) for k in verb}
    omitted = {
        "alerts fired": inputs.fired_count - shown["alert_fired"],
        "alerts recovered": inputs.recovered_count - shown["alert_recovered"],
        "timeline entries (see the incident's timeline)": inputs.entries_total - len(inputs.entries),
    }
    firing: list[dict[str, Any]] = [{"title": a.title, "service": a.service, "since": a.since} for a in inputs.firing]
    lines = [
        f"{incident.ref} is {incident.state} ({incident.priority} {incident.severity}), commander {incident.commander}."
    ]
    if changes:
        what = "the last update" if incident.last_update_at else "the declaration"
        lines.append(f"Since {what} ({_hm(since)}):")
        lines += [f"- {c['text']}" for c in changes]
        lines += [_more(n, what) for what, n in omitted.items() if n > 0]
    else:
        lines.append(f"No changes recorded since {_hm(since)}.")
    if firing:
        named = "; ".join(f"{cut(f['title'], TITLE_LIMIT)} since {_hm(f['since'])}" for f in firing)
        rest = inputs.firing_count - len(firing)
        lines.append(
            f"Still firing: {named}" + (f"; and {rest:,} more ({inputs.firing_count:,} in all)" if rest > 0 else "")
        )
    elif inputs.alerts_total:
        lines.append("No alert is firing.")
    if last_human:
        lines.append(
            f"Last human update at {_hm(last_human.created_at)} by {last_human.actor}: "
            f"{last_human.message.splitlines()[0][:300] if last_human.message else ''}"
        )
    else:
        lines.append("No human status update yet.")
    return {
        "incident": incident.ref,
        "since": since,
        "changes": changes,
        "firing": firing,
        "firing_count": inputs.firing_count,
        "fired_count": inputs.fired_count,
        "recovered_count": inputs.recovered_count,
        "alerts_total": inputs.alerts_total,
        "changes_omitted": sum(n for n in omitted.values() if n > 0),
        "last_human_update": (
            {"actor": last_human.actor, "at": last_human.created_at, "message": last_human.message}
            if last_human
            else None
        ),
        "next_update_due_at": incident.next_update_due_at,
        "text": cut("\n".join(lines), TEXT_LIMIT),
    }
