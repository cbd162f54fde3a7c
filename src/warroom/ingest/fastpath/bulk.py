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

from sqlalchemy.engine import Connection

from warroom.ingest.fastpath.driversql import Step, driver_pipeline

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

_ALERT_COLUMNS = (
    ("source", "text"),
    ("dedup_key", "text"),
    ("open_key", "text"),
    ("service", "text"),
    ("mapped", "boolean"),
    ("environment", "text"),
    ("tier", "integer"),
    ("title", "text"),
    ("status", "text"),
    ("transition", "text"),
    ("priority", "text"),
    ("priority_rule", "text"),
    ("priority_reason", "text"),
    ("priority_hint", "text"),
    ("users_hint", "integer"),
    ("labels", "jsonb"),
    ("link", "text"),
    ("first_seen_at", "timestamptz"),
    ("last_seen_at", "timestamptz"),
    ("resolved_at", "timestamptz"),
    ("started_at", "timestamptz"),
    ("episode_key", "text"),
    ("event_count", "integer"),
)
ALERTS = Bulk("alerts", _ALERT_COLUMNS, "ON CONFLICT (dedup_key, source, open_key) DO NOTHING", ("id", "dedup_key"))

_EVENT_COLUMNS = (
    ("alert_id", "integer"),
    ("event_key", "text"),
    ("source", "text"),
    ("status", "text"),
    ("transition", "text"),
    ("received_at", "timestamptz"),
    ("occurred_at", "timestamptz"),
    ("raw", "text"),
)
# Events of known alerts may be re-deliveries: RETURNING tells which were stored. A new alert's
# events cannot have been stored before, so a batch of only those needs no answer per row.
EVENTS = Bulk("alert_events", _EVENT_COLUMNS, "ON CONFLICT (event_key) DO NOTHING", ("event_key",))
NEW_EVENTS = Bulk("alert_events", _EVENT_COLUMNS, "ON CONFLICT (event_key) DO NOTHING")

# A new alert's escalation row; an upsert so a leftover row for a reused alert id is moved.
DUE = Bulk(
    "due_jobs",
    (
        ("kind", "text"),
        ("subject", "text"),
        ("due_at", "timestamptz"),
        ("payload", "jsonb"),
        ("done", "boolean"),
        ("attempts", "integer"),
        ("created_at", "timestamptz"),
    ),
    "ON CONFLICT (kind, subject) DO UPDATE SET due_at = excluded.due_at, payload = excluded.payload, "
    "done = false, lease_until = NULL, claimed_by = NULL",
)
