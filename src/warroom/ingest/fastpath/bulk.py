"""Many rows in one INSERT, rendered for the driver: the writes of an ingest batch.

SQLAlchemy's executemany type-processes every row, and psycopg re-parses the long multi-row
statement it renders (about 2 ms a batch). These statements are rendered once per shape and take
values already in the driver's form (`statements.Wire`): a multi-row VALUES list on SQLite; on
PostgreSQL the rows as one JSON array of arrays that jsonb_array_elements() unpacks (a short
statement psycopg prepares, and one value that json.dumps makes in C, where typed arrays, one a
column, cost psycopg ~20 us each plus a Python call per value to dump). They run on the DBAPI
cursor (`driversql`); errors surface as SQLAlchemy's.
"""

from __future__ import annotations

import functools
import json
import operator
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Column, DateTime, Integer, String, Table, TypeDecorator
from sqlalchemy.engine import Connection

from warroom.alerts.models import Alert, AlertEvent
from warroom.core.db import Base
from warroom.ingest.fastpath.driversql import Step, driver_pipeline
from warroom.scheduler.models import DueJob

SQLITE_ROWS = 500  # rows per statement: SQLite allows 32,766 bind variables


@dataclass(frozen=True)
class Bulk:
    """INSERT INTO table (columns) many rows `on_conflict` [RETURNING ...]; columns as (name, pg type)."""

    table: str
    columns: tuple[tuple[str, str], ...]
    on_conflict: str
    returning: tuple[str, ...] = ()
    _sqlite: dict[int, str] = field(default_factory=dict, compare=False, repr=False)

    @functools.cached_property
    def names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.columns)

    def _tail(self) -> str:
        return f" {self.on_conflict}" + (f" RETURNING {', '.join(self.returning)}" if self.returning else "")

    @functools.cached_property
    def pg_sql(self) -> str:
        # every value arrives as JSON text (JSON columns too: JSON text is their driver form)
        picked = ", ".join(f"(e->>{n})::{pg_type}" for n, (_, pg_type) in enumerate(self.columns))
        return (
            f"INSERT INTO {self.table} ({', '.join(self.names)}) SELECT {picked} "
            f"FROM jsonb_array_elements(%s::jsonb) AS e{self._tail()}"
        )

    def sqlite_sql(self, rows: int) -> str:
        sql = self._sqlite.get(rows)
        if sql is None:
            one = "(" + ", ".join("?" * len(self.columns)) + ")"
            sql = self._sqlite[rows] = (
                f"INSERT INTO {self.table} ({', '.join(self.names)}) VALUES " + ", ".join([one] * rows) + self._tail()
            )
        return sql

    def row(self, values: Mapping[str, Any]) -> tuple[Any, ...]:
        """A row in column order from a mapping that holds (at least) every column."""
        return self._pick(values)  # type: ignore[no-any-return]

    @functools.cached_property
    def _pick(self) -> Any:
        return operator.itemgetter(*self.names)

    def steps(self, conn: Connection, rows: Sequence[Sequence[Any]]) -> list[Step]:
        """The statements inserting `rows` (tuples in column order), for `driver_pipeline`."""
        if not rows:
            return []
        if conn.dialect.name == "postgresql":
            return [Step(self.pg_sql, (_JSON.encode(rows),))]
        return [
            Step(self.sqlite_sql(len(chunk)), tuple(v for row in chunk for v in row))
            for chunk in (rows[start : start + SQLITE_ROWS] for start in range(0, len(rows), SQLITE_ROWS))
        ]

    def run(self, conn: Connection, rows: Sequence[Sequence[Any]]) -> list[Any]:
        """Insert `rows`; the RETURNING rows of those inserted."""
        return [row for result in driver_pipeline(conn, self.steps(conn, rows)) for row in result]


_JSON = json.JSONEncoder(separators=(",", ":"))


def _pg_type(col: Column[Any]) -> str:
    """The cast a JSON text value takes on its way into this column (text for every string:
    PostgreSQL refuses one too long for a VARCHAR(n) instead of cutting it, as an INSERT does)."""
    kind = col.type.impl if isinstance(col.type, TypeDecorator) else col.type
    if isinstance(kind, String):
        return "text"
    if isinstance(kind, Boolean):
        return "boolean"
    if isinstance(kind, BigInteger):
        return "bigint"
    if isinstance(kind, Integer):
        return "integer"
    if isinstance(kind, DateTime):
        return "timestamptz" if kind.timezone else "timestamp"
    if isinstance(kind, JSON):
        return "jsonb"
    raise TypeError(f"no bulk insert cast for {col.table.name}.{col.name} ({col.type!r})")


def of_table(model: type[Base], *, omit: tuple[str, ...], on_conflict: str, returning: tuple[str, ...] = ()) -> Bulk:
    """A bulk insert of every column of the model's table, in the table's order, but `omit` (left
    to their defaults): the columns come from the table, never repeated by hand."""
    table: Table = model.__table__  # type: ignore[assignment]
    unknown = set(omit) - set(table.columns.keys())
    if unknown:
        raise ValueError(f"{table.name} has no column {sorted(unknown)}")
    columns = tuple((c.name, _pg_type(c)) for c in table.columns if c.name not in omit)
    return Bulk(table.name, columns, on_conflict, returning)


# The ingest store builds alert rows as mappings (`Bulk.row`), events and escalation rows as
# tuples in these columns' order (the tables' order).
ALERTS = of_table(
    Alert,
    omit=("id",),  # incident_id is set when the service has an open incident to join (ingest.joining)
    on_conflict="ON CONFLICT (dedup_key, source, open_key) DO NOTHING",
    returning=("id", "dedup_key"),
)
# Events of known alerts may be re-deliveries: RETURNING tells which were stored. A new alert's
# events cannot have been stored before, so a batch of only those needs no answer per row.
EVENTS = of_table(AlertEvent, omit=("id",), on_conflict="ON CONFLICT (event_key) DO NOTHING", returning=("event_key",))
NEW_EVENTS = of_table(AlertEvent, omit=("id",), on_conflict="ON CONFLICT (event_key) DO NOTHING")

# A new alert's escalation row; an upsert so a leftover row for a reused alert id is moved.
DUE = of_table(
    DueJob,
    omit=("id", "lease_until", "claimed_by", "last_error"),
    on_conflict="ON CONFLICT (kind, subject) DO UPDATE SET due_at = excluded.due_at, payload = excluded.payload, "
    "done = false, lease_until = NULL, claimed_by = NULL",
)
