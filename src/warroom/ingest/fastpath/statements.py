"""The ingest hot path's SQL, compiled once per dialect and run on the DBAPI cursor (`DriverSQL`).

Building a SQLAlchemy statement, and SQLAlchemy's per-execution set-up, cost more than running a
small statement; these are compiled once, take values already in the driver's form (`Wire`: a
batch shares one timestamp, converted once) and bind a batch's keys as one value, so one statement
text serves every batch size. The inserts are in `bulk`.
"""

from __future__ import annotations

import functools
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import String, Table, any_, bindparam, column, func, select, table, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import TableClause

from warroom.alerts.models import Alert
from warroom.core.clock import as_utc
from warroom.ingest import grouping
from warroom.ingest.fastpath.driversql import DriverSQL, Step
from warroom.users.models import ApiToken

A: Table = Alert.__table__  # type: ignore[assignment]


def _wire(t: Table) -> TableClause:
    """The table's columns without types: no bind processing, the values are ready for the driver."""
    return table(t.name, *(column(c.name) for c in t.columns))


WA = _wire(A)


def _sqlite_time(value: datetime | None) -> str | None:
    """What SQLAlchemy's SQLite DATETIME stores (naive UTC, always with microseconds)."""
    return None if value is None else as_utc(value).replace(tzinfo=None).isoformat(" ", "microseconds")


def _pg_time(value: datetime | None) -> str | None:
    """ISO 8601 text, which PostgreSQL reads as the timestamptz it is compared with or stored in:
    the form a JSON document of rows (`bulk`) carries too."""
    return None if value is None else as_utc(value).isoformat()


@dataclass(frozen=True)
class Wire:
    """Values in the form the driver stores them (SQLite: text; PostgreSQL: native)."""

    time: Callable[[datetime | None], Any]
    keys: Callable[[list[str]], Any]  # a list bound as one value (see `_keys_in`)
    json: Callable[[Any], str] = json.dumps


_ROW = (A.c.id, A.c.incident_id, A.c.transition, A.c.users_hint, A.c.tier, A.c.priority, A.c.service, A.c.dedup_key)


@dataclass(frozen=True)
class Statements:
    open_alert: DriverSQL
    open_alerts: DriverSQL  # keys: `Wire.keys(list)`
    last_alert: DriverSQL
    update_seen: DriverSQL
    update_resolved: DriverSQL
    target: DriverSQL
    recent_episodes: DriverSQL  # keys: `Wire.keys(list)` of episode keys
    lock: DriverSQL
    locks: DriverSQL
    wire: Wire


_BUILT: dict[str, Statements] = {}


def _keys_in(col: Any, pg: bool) -> Any:
    """`col` among a list bound as one value: a PostgreSQL array, or a JSON array that SQLite's
    json_each unpacks; one statement text whatever the batch size."""
    if pg:
        return col == any_(bindparam("keys", type_=ARRAY(String)))
    return col.in_(select(column("value")).select_from(func.json_each(bindparam("keys"))))


def _build(dialect: Dialect) -> Statements:
    pg = dialect.name == "postgresql"
    sql = functools.partial(DriverSQL.compile, dialect=dialect)
    return Statements(
        # Both through the unique (dedup_key, source, open_key) index; open_key is the dedup key
        # while the alert fires.
        open_alert=sql(
            select(*_ROW).where(
                A.c.dedup_key == bindparam("key"), A.c.source == bindparam("source"), A.c.open_key == bindparam("key")
            )
        ),
        open_alerts=sql(
            select(*_ROW).where(
                _keys_in(A.c.dedup_key, pg), A.c.source == bindparam("source"), A.c.open_key.is_not(None)
            )
        ),
        last_alert=sql(
            select(*_ROW)
            .where(A.c.dedup_key == bindparam("key"), A.c.source == bindparam("source"))
            .order_by(A.c.id.desc())
            .limit(1)
        ),
        # A known alert seen again (executemany); an acknowledgement passes no transition.
        update_seen=sql(
            update(WA)
            .where(WA.c.id == bindparam("alert_id"))
            .values(
                last_seen_at=bindparam("now"),
                event_count=WA.c.event_count + 1,
                transition=func.coalesce(bindparam("transition"), WA.c.transition),
            )
        ),
        update_resolved=sql(
            update(WA)
            .where(WA.c.id == bindparam("alert_id"))
            .values(
                last_seen_at=bindparam("now"),
                event_count=WA.c.event_count + 1,
                transition=bindparam("transition"),
                status="resolved",
                open_key=None,
                resolved_at=bindparam("now"),
            )
        ),
        # The service's open incident (active within the grouping window), else one resolved
        # within the reopen window.
        target=sql(grouping.TARGET),
        # Alerts of these episode keys recovered since the flap window began (a re-fire continues them).
        recent_episodes=sql(
            select(A.c.episode_key, A.c.resolved_at, A.c.started_at, A.c.first_seen_at).where(
                _keys_in(A.c.episode_key, pg),
                A.c.source == bindparam("source"),
                A.c.open_key.is_(None),
                A.c.resolved_at >= bindparam("since"),
            )
        ),
        lock=sql(grouping.LOCK),
        locks=sql(grouping.LOCKS),
        wire=Wire(time=_pg_time if pg else _sqlite_time, keys=list if pg else json.dumps),
    )


def for_session(session: Session) -> Statements:
    dialect = session.get_bind().dialect
    found = _BUILT.get(dialect.name)
    if found is None:
        found = _BUILT[dialect.name] = _build(dialect)
    return found


def lock_steps(session: Session, services: list[str]) -> list[Step]:
    """Several services' grouping locks in sorted order as one statement, to send ahead of a batch's
    reads (group-commit batches share a transaction, so every process must take them in one order)."""
    if not services or session.get_bind().dialect.name != "postgresql":
        return []
    return [for_session(session).locks.step({"keys": [grouping.lock_key(s) for s in sorted(services)]})]


TOKEN_KIND = select(ApiToken.kind, ApiToken.name, ApiToken.token_hash, ApiToken.revoked_at).where(
    ApiToken.token_hash == bindparam("digest")
)
_TOKEN_BY_DIGEST: dict[str, DriverSQL] = {}


def token_steps(session: Session, digests: list[str]) -> list[Step]:
    """The look-ups of these sha256 digests, to send with other reads (`driversql.driver_pipeline`)."""
    conn = session.connection()
    sql = _TOKEN_BY_DIGEST.get(conn.dialect.name)
    if sql is None:
        sql = _TOKEN_BY_DIGEST[conn.dialect.name] = DriverSQL.compile(TOKEN_KIND, conn.dialect)
    return [sql.step({"digest": digest}) for digest in digests]


def token_kinds_from(digests: list[str], results: list[list[Any]]) -> dict[str, tuple[str, str]]:
    """(kind, name) of each live token among the digests, from their `token_steps` results."""
    found = {}
    for digest, rows in zip(digests, results, strict=True):
        row = rows[0] if rows else None
        if row is not None and row.revoked_at is None and hmac.compare_digest(row.token_hash, digest):
            found[digest] = (row.kind, row.name)
    return found
