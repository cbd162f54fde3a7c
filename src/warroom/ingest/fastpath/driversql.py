"""SQL run on the DBAPI cursor of a SQLAlchemy connection: the ingest hot path's statements.

SQLAlchemy's per-statement work (compiling or looking up the statement, processing each value,
setting up the result) costs more than a small statement; a hot path running a few statements per
batch compiles them once (`DriverSQL`), binds values already in the driver's form and reads plain
rows. `driver_pipeline` sends independent statements together: one round trip on PostgreSQL
(psycopg's pipeline mode), one after another on SQLite. Driver errors surface as SQLAlchemy's and a
lost connection is invalidated, as SQLAlchemy itself would do, so outage handling is unchanged.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection, Dialect

_ROW_TYPES: dict[str, type | None] = {}  # by statement text: its row type, None if it returns no rows


def _rows(cursor: Any, sql: str) -> list[Any]:
    """The rows as named tuples; the type is made once per statement (psycopg builds its column
    descriptions anew on every `description`)."""
    try:
        make = _ROW_TYPES[sql]
    except KeyError:
        names = None if cursor.description is None else tuple(column[0] for column in cursor.description)
        make = _ROW_TYPES[sql] = (
            None
            if names is None
            else namedtuple(  # type: ignore[misc]  # noqa: PYI024
                "DriverRow", names, rename=True
            )
        )
    if make is None:
        return []
    return [make(*row) for row in cursor.fetchall()]


@dataclass(frozen=True)
class Step:
    """One statement for `driver_pipeline`. `planned`: PostgreSQL plans this query for its values
    every time (psycopg would prepare it after five runs, and the generic plan PostgreSQL then
    keeps, if made while a table was nearly empty, stays a full scan as the table grows)."""

    sql: str
    args: Any
    planned: bool = False
    many: bool = False


@contextmanager
def _as_sqlalchemy_errors(conn: Connection, step: Step | None, cursor: Any = None) -> Iterator[None]:
    try:
        yield
    except conn.dialect.loaded_dbapi.Error as err:
        dbapi_conn = conn.connection.dbapi_connection
        lost = conn.dialect.is_disconnect(err, dbapi_conn, cursor)
        if lost:
            conn.invalidate(err)
        raise sa_exc.DBAPIError.instance(
            step.sql if step else "(pipeline)",
            step.args if step else None,
            err,
            conn.dialect.loaded_dbapi.Error,
            connection_invalidated=lost,
            dialect=conn.dialect,
        ) from err


def _execute(conn: Connection, cursor: Any, step: Step) -> None:
    if step.many:
        cursor.executemany(step.sql, step.args)
    elif step.planned and conn.dialect.name == "postgresql":
        cursor.execute(step.sql, step.args, prepare=False)
    else:
        cursor.execute(step.sql, step.args)


def driver_pipeline(conn: Connection, steps: list[Step]) -> list[list[Any]]:
    """Independent statements, in order, each one's rows: on PostgreSQL in one round trip."""
    dbapi_conn = conn.connection.dbapi_connection
    assert dbapi_conn is not None
    if len(steps) == 1 or conn.dialect.name != "postgresql":
        out = []
        for step in steps:
            cursor = dbapi_conn.cursor()
            try:
                with _as_sqlalchemy_errors(conn, step, cursor):
                    _execute(conn, cursor, step)
                    out.append(_rows(cursor, step.sql))
            finally:
                cursor.close()
        return out
    cursors = [dbapi_conn.cursor() for _ in steps]
    try:
        with _as_sqlalchemy_errors(conn, None):
            with dbapi_conn.pipeline():  # type: ignore[attr-defined]  # psycopg
                for cursor, step in zip(cursors, steps, strict=True):
                    _execute(conn, cursor, step)
            return [_rows(cursor, step.sql) for cursor, step in zip(cursors, steps, strict=True)]
    finally:
        for cursor in cursors:
            cursor.close()


@dataclass(frozen=True)
class DriverSQL:
    """A statement compiled once into the driver's SQL: no compile, cache look-up, per-value
    processing or result set-up on each call. Values must be in the driver's form; rows come back
    as named tuples of raw driver values."""

    sql: str
    order: tuple[str, ...] | None  # parameter names in position order (qmark drivers), else named
    constants: dict[str, Any]  # the statement's own literal values (e.g. status = 'resolved')
    planned: bool  # a query: PostgreSQL plans it for its values each time (see Step)

    @classmethod
    def compile(cls, statement: Any, dialect: Dialect) -> DriverSQL:
        compiled = statement.compile(dialect=dialect)
        if "POSTCOMPILE" in compiled.string:
            raise ValueError("expanding IN cannot be compiled once; bind a list as one value")
        constants = {name: bind.value for name, bind in compiled.binds.items() if not bind.required}
        return cls(
            compiled.string,
            tuple(compiled.positiontup or ()) if compiled.positional else None,
            constants,
            compiled.string.lstrip().upper().startswith("SELECT"),
        )

    def _args(self, params: dict[str, Any]) -> Any:
        if self.constants:
            params = {**self.constants, **params}
        return params if self.order is None else tuple(params[k] for k in self.order)

    def step(self, params: dict[str, Any]) -> Step:
        return Step(self.sql, self._args(params), self.planned)

    def step_many(self, rows: list[dict[str, Any]]) -> Step:
        return Step(self.sql, [self._args(row) for row in rows], many=True)

    def rows(self, conn: Connection, params: dict[str, Any]) -> list[Any]:
        return driver_pipeline(conn, [self.step(params)])[0]

    def first(self, conn: Connection, params: dict[str, Any]) -> Any:
        found = self.rows(conn, params)
        return found[0] if found else None

    def scalar(self, conn: Connection, params: dict[str, Any]) -> Any:
        found = self.rows(conn, params)
        return found[0][0] if found else None
