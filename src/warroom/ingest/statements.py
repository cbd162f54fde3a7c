"""The ingest hot path's SQL, built once per dialect: building a statement costs more than running it.

SQLAlchemy spends most of a small query's time constructing the expression and its cache key;
statements built here once, with bind parameters, skip that on every alert. The batch writes go
through untyped "wire" views of their tables, with values already in the driver's form (`Wire`):
per-row type processing (datetimes, JSON) cost more than the SQL itself, and a batch shares one
timestamp, converted once.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import String, Table, and_, any_, bindparam, case, column, func, or_, select, table, text, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import TableClause

from warroom.clock import as_utc
from warroom.incidents import states
from warroom.incidents.models import Incident, IncidentService
from warroom.ingest.models import Alert

A: Table = Alert.__table__  # type: ignore[assignment]


def _wire(t: Table) -> TableClause:
    """The table's columns without types: no bind processing, the values are ready for the driver."""
    return table(t.name, *(column(c.name) for c in t.columns))


WA = _wire(A)


def _sqlite_time(value: datetime | None) -> str | None:
    """What SQLAlchemy's SQLite DATETIME stores (naive UTC, always with microseconds)."""
    return None if value is None else as_utc(value).replace(tzinfo=None).isoformat(" ", "microseconds")


def _pg_time(value: datetime | None) -> datetime | None:
    return None if value is None else as_utc(value)


@dataclass(frozen=True)
class Wire:
    """Values in the form the driver stores them, for the wire tables' columns."""

    time: Callable[[datetime | None], Any]
    json: Callable[[Any], str] = json.dumps


_ROW = (A.c.id, A.c.incident_id, A.c.transition, A.c.users_hint, A.c.tier, A.c.priority,
        A.c.service, A.c.dedup_key)


@dataclass(frozen=True)
class Statements:
    open_alert: Any
    open_alerts: Any
    last_alert: Any
    update_seen: Any
    update_resolved: Any
    target: Any
    lock: Any
    locks: Any
    wire: Wire


@cache
def _build(dialect: str) -> Statements:
    svc = select(IncidentService.incident_id).where(IncidentService.service == bindparam("service"))
    return Statements(
        # Both through the unique (dedup_key, source, open_key) index; open_key is the dedup key
        # while the alert fires. PostgreSQL gets one array (one statement text for any batch size).
        open_alert=select(*_ROW).where(A.c.dedup_key == bindparam("key"), A.c.source == bindparam("source"),
                                       A.c.open_key == bindparam("key")),
        open_alerts=select(*_ROW).where(
            A.c.dedup_key == any_(bindparam("keys", type_=ARRAY(String))) if dialect == "postgresql"
            else A.c.dedup_key.in_(bindparam("keys", expanding=True)),
            A.c.source == bindparam("source"), A.c.open_key.is_not(None)),
        last_alert=select(*_ROW).where(A.c.dedup_key == bindparam("key"), A.c.source == bindparam("source"))
        .order_by(A.c.id.desc()).limit(1),
        # A known alert seen again (executemany); an acknowledgement passes no transition.
        update_seen=update(WA).where(WA.c.id == bindparam("alert_id")).values(
            last_seen_at=bindparam("now"), event_count=WA.c.event_count + 1,
            transition=func.coalesce(bindparam("transition"), WA.c.transition)),
        update_resolved=update(WA).where(WA.c.id == bindparam("alert_id")).values(
            last_seen_at=bindparam("now"), event_count=WA.c.event_count + 1,
            transition=bindparam("transition"), status="resolved", open_key=None,
            resolved_at=bindparam("now")),
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
        # Several keys in one round trip, taken in the order given (WITH ORDINALITY keeps it).
        wire=Wire(time=_pg_time if dialect == "postgresql" else _sqlite_time),
        locks=text("SELECT pg_advisory_xact_lock(k) FROM unnest(CAST(:keys AS bigint[])) "
                   "WITH ORDINALITY AS t(k, n) ORDER BY n"),
    )


def for_session(session: Session) -> Statements:
    return _build(session.get_bind().dialect.name)
