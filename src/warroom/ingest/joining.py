"""Many new alerts of one service and tier joining its open incident at once (an alert storm).

`grouping.place` decides for one alert (join, reopen, declare, prompt) with a few statements and
a timeline entry each: ~1.7 ms an alert, 15-22 s for a 10,000-alert Alertmanager group, all of it
holding the write lock. In set form: the store finds each (service, tier)'s open incident of that
tier once (`open_incident`, locked: grouping's TARGET, so the environment is part of it and a
staging storm never joins a production incident) and inserts its new firing alerts already linked
to it; `joined_` then
does what follows once for them all: one timeline entry that says how many joined and names the
first few (a lone alert keeps its own entry), one cancel of the pending auto-resolve, one priority
raise (the most urgent alert's) and one severity suggestion (the first alert that brings a value
of a severity rule's tag). A (service, tier) without an open incident goes through `place_many`:
its first alert is placed as ever (reopen, declare, prompt), and once that opened an incident of
their tier the rest join it with one UPDATE per 1,000 alerts.
"""

from __future__ import annotations

from datetime import datetime
from functools import reduce
from typing import Any

from sqlalchemy import Table, update
from sqlalchemy.orm import Session

from warroom.alerts.models import Alert
from warroom.core.hooks import Hooks
from warroom.incidents import cadence, states
from warroom.incidents import service as incidents
from warroom.incidents.models import Incident
from warroom.ingest import grouping
from warroom.policy.schema import Policy
from warroom.scheduler import service as scheduler
from warroom.triage import rules

A: Table = Alert.__table__  # type: ignore[assignment]
CHUNK = 1000  # alert ids per UPDATE (SQLite's bound parameters stay far below its limit)
NAMED = 3  # alerts a joined-together timeline entry names
IDS_KEPT = 100  # alert ids a joined-together entry keeps in its data


def place_many(
    session: Session,
    *,
    policy: Policy,
    now: datetime,
    hooks: Hooks,
    rows: list[dict[str, Any]],
    quiet: set[tuple[str, int]],
) -> list[int | None]:
    """New firing alerts of one (service, tier), in order; each one's incident (None: a triage record)."""
    if len({(row["service"], row["tier"]) for row in rows}) > 1:
        raise ValueError("place_many: rows of one (service, tier) only (the environment is part of grouping)")
    out: list[int | None] = []
    for n, row in enumerate(rows):
        placed = grouping.place(session, policy=policy, now=now, alert_id=row["id"], hooks=hooks, row=row, quiet=quiet)
        out.append(placed)
        rest = rows[n + 1 :]
        if placed is None or not rest:
            continue
        incident = incidents.get(session, placed)  # already loaded and locked by `place`
        if incident.state in states.OPEN_STATES and _groups(policy, incident, rest[0]):
            join(session, policy=policy, now=now, incident=incident, rows=rest)
            return out + [incident.id] * len(rest)
    return out


def join(session: Session, *, policy: Policy, now: datetime, incident: Incident, rows: list[dict[str, Any]]) -> None:
    """Link `rows` (new firing alerts of the incident's tier) to the open `incident`; those an
    auto-declaration in this transaction already linked are left as they are."""
    conn = session.connection()
    linked: set[int] = set()
    ids = [row["id"] for row in rows if _groups(policy, incident, row)]
    for start in range(0, len(ids), CHUNK):
        linked.update(
            conn.execute(
                update(A)
                .where(A.c.id.in_(ids[start : start + CHUNK]), A.c.incident_id.is_(None))
                .values(incident_id=incident.id)
                .returning(A.c.id)
            ).scalars()
        )
    joined_(session, policy=policy, now=now, incident=incident, rows=[row for row in rows if row["id"] in linked])


def _groups(policy: Policy, incident: Incident, row: dict[str, Any]) -> bool:
    """Whether a new alert may join `incident` (grouping's TARGET rule: its tier is the incident's)."""
    return bool(row["tier"] == rules.incident_tier(policy, incident.tier))


def open_incident(
    session: Session, *, policy: Policy, now: datetime, service: str, tier: int, known: int | None = None
) -> Incident | None:
    """The open incident of the service and tier, locked, that its new firing alerts of that tier
    join (`place`'s first choice): a staging alert never joins a production incident."""
    incident = grouping.target(session, policy=policy, now=now, service=service, tier=tier, known=known)
    return incident if incident is not None and incident.state in states.OPEN_STATES else None


def joined_(session: Session, *, policy: Policy, now: datetime, incident: Incident, rows: list[dict[str, Any]]) -> None:
    """What follows alerts joining `incident` (their rows already name it): the timeline, the
    auto-resolve cancelled, the priority raised and the severity suggested, once for them all."""
    joined = [{**row, "incident_id": incident.id} for row in rows]
    if not joined:
        return
    if len(joined) == 1:
        grouping.alert_timeline(session, incident, now=now, a=joined[0], what="joined")
    else:
        _summary(session, incident, now=now, joined=joined)
    scheduler.cancel(session, kind=grouping.AUTORESOLVE, subject=cadence.incident_subject(incident.id))
    incident.updated_at = now
    top = reduce(rules.higher, (a["priority"] for a in joined))
    grouping.raise_priority(
        session, policy=policy, now=now, incident=incident, a=next(a for a in joined if a["priority"] == top)
    )
    tags = {rule.distinct_tag for rule in policy.triage.severity_rules}
    tagged = next(
        (
            a
            for a in joined
            if a["labels"]
            and not tags.isdisjoint(a["labels"])
            and rules.adds_severity_values(policy, dict(a["labels"]), a["tier"])
        ),
        None,
    )
    if tagged is not None:
        grouping.suggest_severity(session, policy=policy, now=now, incident=incident, a=tagged)


def _summary(session: Session, incident: Incident, *, now: datetime, joined: list[dict[str, Any]]) -> None:
    """One timeline entry for alerts that joined together: how many, the first few by name."""
    named = "; ".join(f"alert {a['id']}: {a['title'][:200]} [{a['source']}, {a['priority']}]" for a in joined[:NAMED])
    more = len(joined) - NAMED
    incidents.add_timeline(
        session,
        incident,
        now=now,
        actor=grouping.SYSTEM,
        kind="alert",
        text=f"{len(joined):,} alerts of {joined[0]['service']} joined: {named}"
        + (f"; and {more:,} more" if more > 0 else ""),
        data={
            "event": "joined",
            "count": len(joined),
            "alert_ids": [a["id"] for a in joined[:IDS_KEPT]],
            "first_alert_id": joined[0]["id"],
            "last_alert_id": joined[-1]["id"],
            "service": joined[0]["service"],
            "sources": sorted({a["source"] for a in joined}),
            "priorities": sorted({a["priority"] for a in joined}),
        },
    )
