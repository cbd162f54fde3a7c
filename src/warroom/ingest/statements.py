"""The ingest hot path's SQL, built once per dialect: building a statement costs more than running it.

SQLAlchemy spends most of a small query's time constructing the expression and its cache key;
statements built here once, with bind parameters, skip that on every alert.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import Table, and_, bindparam, case, or_, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from warroom.incidents import states
from warroom.incidents.models import Incident, IncidentService
from warroom.ingest.models import Alert, AlertEvent
from warroom.reminders.models import DueJob

A: Table = Alert.__table__  # type: ignore[assignment]
E: Table = AlertEvent.__table__  # type: ignore[assignment]
D: Table = DueJob.__table__  # type: ignore[assignment]
_ROW = (A.c.id, A.c.incident_id, A.c.transition, A.c.users_hint, A.c.tier, A.c.priority,
        A.c.service)


@dataclass(frozen=True)
class Statements:
    open_alert: Any
    last_alert: Any
    insert_alert: Any
    insert_event: Any
    upsert_due: Any
    target: Any
    lock: Any


@cache
def _build(dialect: str) -> Statements:
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    due = insert(D)
    svc = select(IncidentService.incident_id).where(IncidentService.service == bindparam("service"))
    return Statements(
        open_alert=select(*_ROW).where(A.c.source == bindparam("source"),
                                       A.c.open_key == bindparam("key")),
        last_alert=select(*_ROW).where(A.c.source == bindparam("source"),
                                       A.c.dedup_key == bindparam("key"))
        .order_by(A.c.id.desc()).limit(1),
        insert_alert=insert(A).on_conflict_do_nothing(index_elements=["source", "open_key"])
        .returning(A.c.id),
        insert_event=insert(E).on_conflict_do_nothing(index_elements=["event_key"])
        .returning(E.c.id),
        # A new alert's escalation row; an upsert so a leftover row for a reused id is moved.
        upsert_due=due.on_conflict_do_update(index_elements=["kind", "subject"], set_={
            "due_at": due.excluded.due_at, "payload": due.excluded.payload, "done": False,
            "lease_until": None, "claimed_by": None}),
        # The service's open incident (active within the grouping window), else one resolved
        # within the reopen window.
        target=select(Incident.id).where(Incident.id.in_(svc), or_(
            and_(Incident.state.in_(states.OPEN_STATES),
                 Incident.updated_at >= bindparam("open_since", type_=Incident.updated_at.type)),
            and_(Incident.state == "resolved",
                 Incident.resolved_at >= bindparam("resolved_since",
                                                   type_=Incident.resolved_at.type))))
        .order_by(case((Incident.state == "resolved", 1), else_=0), Incident.id.desc()).limit(1),
        lock=text("SELECT pg_advisory_xact_lock(:k)"),
    )


def for_session(session: Session) -> Statements:
    return _build(session.get_bind().dialect.name)
