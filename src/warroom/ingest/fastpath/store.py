"""Store a batch of alert events with a few set-wide statements (the ingest hot path).

A group-commit batch carries many webhook deliveries. Their events are applied in rounds: a round
holds at most one event per alert key, so each step of a round (look up the open alerts, insert
the new ones, insert the events, update the seen ones, schedule escalations) is one statement for
the whole round whatever its size. New firing alerts of a (service, tier) with an open incident
of that tier are inserted already linked to it and join it together (`ingest.joining`: a few
statements per pair, not per alert); every other event is grouped event by event, in (service,
key) order so concurrent batches lock in one order, with a per-batch memory of the (service, tier)
pairs known to have no incident to join (one look-up per pair, not per alert). The environment is
part of grouping: a staging alert never joins a production incident, in set form or not. A new
alert's 15-minute clock starts when its sender says it started, or where its episode started when
it re-fires within the flap window (triage.rules: alert_start, episode_start).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Table, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from warroom.alerts.models import Alert
from warroom.core.hooks import Hooks
from warroom.incidents import service as incidents
from warroom.incidents.models import Incident
from warroom.incidents.states import OPEN_STATES
from warroom.ingest import episodes, grouping, joining
from warroom.ingest.fastpath import bulk, records, statements
from warroom.ingest.fastpath.driversql import driver_pipeline
from warroom.ingest.fastpath.lookahead import Lookahead
from warroom.ingest.parsers import Incoming
from warroom.ingest.service import Triaged, triage
from warroom.policy.schema import Policy
from warroom.triage import rules

A: Table = Alert.__table__  # type: ignore[assignment]


@dataclass
class Outcome:
    alert_id: int | None
    dedup_key: str
    status: str
    duplicate: bool = False
    created: bool = False
    incident_id: int | None = None


@dataclass
class _Event:
    """One event's way through a round."""

    item: Incoming
    t: Triaged
    out: Outcome
    row: Any = None  # the alert it belongs to, as read (None: a new alert)
    was_open: bool = False
    inserted: dict[str, Any] | None = None
    values: dict[str, Any] = field(default_factory=dict)  # rare changes: users figure, priority


@dataclass
class _Batch:
    policy: Policy
    hooks: Hooks
    now: datetime
    conn: Connection
    st: statements.Statements
    locked: set[str]
    now_w: Any = None  # `now` in the driver's form, once per batch
    quiet: set[tuple[str, int]] = field(default_factory=set)  # (service, tier) with no incident to join
    # This round's (service, tier) pairs' open incidents of that tier: their new firing alerts join in set form.
    joins: dict[tuple[str, int], Incident] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.now_w = self.st.wire.time(self.now)


def ingest(
    session: Session,
    *,
    policy: Policy,
    hooks: Hooks,
    now: datetime,
    items: list[Incoming],
    triaged: list[Triaged] | None = None,
    prelocked: frozenset[str] = frozenset(),
    lookahead: Lookahead | None = None,
) -> list[Outcome]:
    """Apply events in (service, key) order so concurrent batches lock in one order;
    `triaged` passes decisions the caller already made, `prelocked` the services whose lock
    this transaction already holds (the API takes a batch's locks up front), `lookahead` the
    first reads already made for a superset of these events."""
    triaged = triaged if triaged is not None else [triage(policy, it) for it in items]
    order = sorted(range(len(items)), key=lambda i: (triaged[i].service, items[i].dedup_key, i))
    rounds: list[list[int]] = []
    seen: dict[tuple[str, str], int] = {}
    copies = _copies(items)
    for i in order:  # the n-th event of a key goes to round n: one event per key per round
        if i in copies:
            continue
        key = (items[i].source, items[i].dedup_key)
        n = seen[key] = seen.get(key, -1) + 1
        if n == len(rounds):
            rounds.append([])
        rounds[n].append(i)
    batch = _Batch(
        policy=policy,
        hooks=hooks,
        now=now,
        conn=session.connection(),
        st=statements.for_session(session),
        locked=set(prelocked),
    )
    if lookahead is not None:
        batch.quiet.update(lookahead.quiet)
    outcomes: dict[int, Outcome] = {}
    for n, members in enumerate(rounds):
        events = [
            _Event(
                item=items[i],
                t=triaged[i],
                out=Outcome(alert_id=None, dedup_key=items[i].dedup_key, status=items[i].status),
            )
            for i in members
        ]
        _round(session, batch, events, lookahead if n == 0 else None)  # later rounds see earlier ones
        outcomes.update(zip(members, (e.out for e in events), strict=True))
    for i, j in copies.items():
        o = outcomes[j]
        outcomes[i] = Outcome(
            alert_id=o.alert_id, dedup_key=o.dedup_key, status=o.status, duplicate=True, incident_id=o.incident_id
        )
    return [outcomes[i] for i in range(len(items))]


def _copies(items: list[Incoming]) -> dict[int, int]:
    """Re-deliveries inside one batch (a sender's retry racing its first try): when every event of
    a key is the same event, the later ones are answered as duplicates of the first without a
    round each. A key whose events differ (fired, recovered, fired) keeps them all, in order."""
    by_key: dict[tuple[str, str], list[int]] = {}
    for i, item in enumerate(items):
        by_key.setdefault((item.source, item.dedup_key), []).append(i)
    copies: dict[int, int] = {}
    for members in by_key.values():
        if len(members) > 1 and len({items[i].content_hash() for i in members}) == 1:
            copies.update((i, members[0]) for i in members[1:])
    return copies


def _round(session: Session, b: _Batch, events: list[_Event], lookahead: Lookahead | None) -> None:
    _find(b, events, lookahead)
    live = [e for e in events if not e.out.duplicate]
    wanted = sorted({e.row.service if e.row is not None else e.t.service for e in live} - b.locked)
    grouping.lock_services(session, wanted)  # alerts whose service the caller did not prelock
    b.locked.update(wanted)
    _open_incidents(session, b, [e for e in live if e.row is None and e.item.status == "firing"], lookahead)
    _insert_alerts(b, [e for e in live if e.row is None], lookahead)
    live = _record_events(b, [e for e in live if e.out.alert_id is not None])
    _update_seen(b, live)
    _group_all(session, b, live)


def _find(b: _Batch, events: list[_Event], lookahead: Lookahead | None) -> None:
    """Each event's open alert, one look-up per source (or from the lookahead); a recovery
    without one takes the last."""
    by_source: dict[str, list[_Event]] = {}
    for e in events:
        if lookahead is not None and e.item.dedup_key in lookahead.keys.get(e.item.source, ()):
            e.row = lookahead.open.get((e.item.source, e.item.dedup_key))
            e.was_open = e.row is not None
        else:
            by_source.setdefault(e.item.source, []).append(e)
    for source, group in by_source.items():
        rows = b.st.open_alerts.rows(
            b.conn, {"source": source, "keys": b.st.wire.keys([e.item.dedup_key for e in group])}
        )
        found = {row.dedup_key: row for row in rows}
        for e in group:
            e.row = found.get(e.item.dedup_key)
            e.was_open = e.row is not None
    for e in events:
        if e.row is None and e.item.status != "firing":
            e.row = b.st.last_alert.first(b.conn, {"source": e.item.source, "key": e.item.dedup_key})
            if e.row is None and e.item.status == "acknowledged":
                e.out.duplicate = True  # nothing to acknowledge
        if e.row is not None:
            e.out.alert_id, e.out.incident_id = e.row.id, e.row.incident_id


def _open_incidents(session: Session, b: _Batch, new: list[_Event], lookahead: Lookahead | None) -> None:
    """The open incident (locked) of each (service, tier) with new firing alerts, of that tier: they
    are inserted already linked to it, and join it together (`joining`), with no statement per alert.
    The first round takes what the lookahead's TARGET found rather than asking again."""
    b.joins = {}
    known = lookahead.targets if lookahead is not None else {}
    for service, tier in sorted({(e.t.service, e.t.tier) for e in new} - b.quiet):
        incident = joining.open_incident(
            session, policy=b.policy, now=b.now, service=service, tier=tier, known=known.get((service, tier))
        )
        if incident is not None:
            b.joins[(service, tier)] = incident


def _starts(b: _Batch, new: list[_Event], lookahead: Lookahead | None) -> list[datetime]:
    """Each new alert's episode start: the recently recovered episodes from the lookahead (it read
    them for every item of the batch, a superset of these), else one look-up per source."""
    if lookahead is not None:
        recovered = lookahead.recovered
    else:
        recovered = {}
        since = b.st.wire.time(b.now - b.policy.triage.flap_window)
        for source, keys in episodes.wanted(b.policy, [e.item for e in new]).items():
            params = {"source": source, "keys": b.st.wire.keys(sorted(keys)), "since": since}
            recovered.update(episodes.recovered_from_rows(source, b.st.recent_episodes.rows(b.conn, params)))
    return [episodes.start(b.policy, item=e.item, now=b.now, recovered=recovered) for e in new]


def _insert_alerts(b: _Batch, new: list[_Event], lookahead: Lookahead | None) -> None:
    """One multi-row insert; an alert a concurrent delivery opened first is read instead. A new
    firing alert whose (service, tier) has an open incident is inserted linked to it."""
    if not new:
        return
    rows = [
        records.alert_row(e.item, e.t, b.now, started)
        for e, started in zip(new, _starts(b, new, lookahead), strict=True)
    ]
    for row in rows:
        if row["status"] == "firing" and (incident := b.joins.get(_group_of(row))) is not None:
            row["incident_id"] = incident.id
    json_, now_w = b.st.wire.json, b.now_w
    ids = {
        r.dedup_key: r.id
        for r in bulk.ALERTS.run(
            b.conn,
            [
                bulk.ALERTS.row(
                    {
                        **r,
                        "labels": json_(r["labels"]),
                        "first_seen_at": now_w,
                        "last_seen_at": now_w,
                        "resolved_at": r["resolved_at"] and now_w,
                        "started_at": b.st.wire.time(r["started_at"]),
                    }
                )
                for r in rows
            ],
        )
    }
    for e, row in zip(new, rows, strict=True):
        row["id"] = ids.get(e.item.dedup_key)
        if row["id"] is not None:
            e.out.alert_id, e.out.created, e.inserted = row["id"], True, row
            continue
        e.row = b.st.open_alert.first(b.conn, {"source": e.item.source, "key": e.item.dedup_key})
        assert e.row is not None, f"alert {e.item.dedup_key} vanished between insert and read"
        e.out.alert_id, e.out.incident_id = e.row.id, e.row.incident_id


def _record_events(b: _Batch, events: list[_Event]) -> list[_Event]:
    """Insert every event at once, with new alerts' escalation rows (one round trip on
    PostgreSQL); those already stored (re-deliveries) come back as duplicates."""
    if not events:
        return []
    keys = [records.event_key(e.out.alert_id, e.item) for e in events]  # type: ignore[arg-type]
    time_ = b.st.wire.time
    rows = [
        (
            e.out.alert_id,
            key,
            e.item.source,
            e.item.status,
            e.item.transition,
            b.now_w,
            time_(e.item.occurred_at),
            e.item.raw,
        )
        for e, key in zip(events, keys, strict=True)
    ]
    only_new = all(e.out.created for e in events)  # a new alert's first event: nothing to collide with
    steps = (bulk.NEW_EVENTS if only_new else bulk.EVENTS).steps(b.conn, rows)
    inserts = len(steps)
    due = [e for e in events if e.out.created and e.item.status == "firing" and e.t.escalates]
    if due:  # new alerts' events are never duplicates: their escalation rows go in the same trip
        steps += bulk.DUE.steps(
            b.conn,
            [
                (
                    grouping.ESCALATE,
                    grouping.alert_subject(e.out.alert_id or 0),
                    time_(_escalation_due(b, e)),
                    records.due_payload(e.item.dedup_key),
                    False,
                    0,
                    b.now_w,
                )
                for e in due
            ],
        )
    results = driver_pipeline(b.conn, steps)
    if only_new:
        return events
    stored = {r.event_key for result in results[:inserts] for r in result}
    for e, key in zip(events, keys, strict=True):
        e.out.duplicate = key not in stored
    return [e for e in events if not e.out.duplicate]


def _escalation_due(b: _Batch, e: _Event) -> datetime:
    """The 15-minute rule's due time, counted from the new alert's episode start."""
    started = e.inserted["started_at"] if e.inserted is not None else b.now
    return rules.escalation_due(b.policy, started=started, now=b.now)


def _update_seen(b: _Batch, events: list[_Event]) -> None:
    """Known alerts: last seen, count and transition in one executemany per shape."""
    seen: list[dict[str, Any]] = []
    resolved: list[dict[str, Any]] = []
    for e in events:
        if e.out.created:
            continue
        transition = e.item.transition if e.item.status != "acknowledged" else None
        params = {"alert_id": e.out.alert_id, "now": b.now_w, "transition": transition}
        (resolved if e.item.status == "resolved" and e.was_open else seen).append(params)
        if e.item.status == "firing" and e.t.users is not None and e.t.users != e.row.users_hint:
            e.values["users_hint"] = e.t.users
            rising = rules.higher(e.row.priority, e.t.priority.value)
            if rising != e.row.priority:
                e.values.update(
                    priority=rising, priority_rule=e.t.priority.rule, priority_reason=e.t.priority.reason[:500]
                )
            b.conn.execute(update(A).where(A.c.id == e.out.alert_id).values(**e.values))
    steps = ([b.st.update_seen.step_many(seen)] if seen else []) + (
        [b.st.update_resolved.step_many(resolved)] if resolved else []
    )
    if steps:
        driver_pipeline(b.conn, steps)  # one round trip for both shapes on PostgreSQL


def _group_all(session: Session, b: _Batch, live: list[_Event]) -> None:
    """New firing alerts of one (service, tier) are placed together (a storm joins its incident of
    that tier in a few statements, `joining`), at the place of the pair's first one; every other
    event alone."""
    runs: dict[tuple[str, int], list[tuple[_Event, dict[str, Any]]]] = {}
    for e in live:
        if e.out.created and e.item.status == "firing" and e.inserted is not None:
            runs.setdefault(_group_of(e.inserted), []).append((e, e.inserted))
    first = {id(run[0][0]): run for run in runs.values()}
    members = {id(e) for run in runs.values() for e, _ in run}
    for e in live:
        if id(e) not in members:
            _group(session, b, e)
        elif (run := first.get(id(e))) is not None and (incident := b.joins.get(_group_of(run[0][1]))) is not None:
            rows = [row for _, row in run]  # inserted already linked to their open incident
            joining.joined_(session, policy=b.policy, now=b.now, incident=incident, rows=rows)
            for r, _ in run:
                r.out.incident_id = incident.id
        elif run is not None:
            placed = joining.place_many(
                session, policy=b.policy, now=b.now, hooks=b.hooks, rows=[row for _, row in run], quiet=b.quiet
            )
            for (r, _), incident_id in zip(run, placed, strict=True):
                r.out.incident_id = incident_id


def _group_of(row: dict[str, Any]) -> tuple[str, int]:
    """What grouping keys on: the environment (tier) is part of it."""
    return row["service"], row["tier"]


def _group(session: Session, b: _Batch, e: _Event) -> None:
    """Incidents: place a new (or newly more urgent) firing alert, note a recovery or a change."""
    assert e.out.alert_id is not None
    if e.item.status == "firing":
        if e.out.created or "priority" in e.values:
            e.out.incident_id = grouping.place(
                session,
                policy=b.policy,
                now=b.now,
                alert_id=e.out.alert_id,
                hooks=b.hooks,
                row=e.inserted,
                quiet=b.quiet,
            )
        elif e.row is not None and e.row.incident_id and e.row.transition != e.item.transition:
            _note_transition(session, policy=b.policy, now=b.now, alert_id=e.out.alert_id)
    elif e.item.status == "resolved" and e.was_open:
        grouping.after_resolve(session, policy=b.policy, now=b.now, alert_id=e.out.alert_id)


def _note_transition(session: Session, *, policy: Policy, now: datetime, alert_id: int) -> None:
    a = session.connection().execute(select(A).where(A.c.id == alert_id)).mappings().one()
    incident = incidents.get(session, a["incident_id"])
    if incident.state in OPEN_STATES:
        grouping.alert_timeline(session, incident, now=now, a=a, what=f"changed to {a['transition']}")
