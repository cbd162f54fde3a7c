"""Engine and session setup for SQLite (WAL, the embedded default) and PostgreSQL."""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, MetaData, create_engine, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Connection, Dialect, Engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

from warroom.clock import as_utc

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

JSONType = JSON().with_variant(JSONB(), "postgresql")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class UTCDateTime(TypeDecorator[datetime]):
    """Always store and return aware UTC, whatever the backend hands back."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = as_utc(value)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return as_utc(value) if value is not None else None


def normalize_url(url: str) -> str:
    """Let users write plain `postgresql://`; we drive it with psycopg 3."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url.removeprefix("postgres://")
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return url


def is_sqlite(engine_or_url: Engine | str) -> bool:
    url = engine_or_url if isinstance(engine_or_url, str) else str(engine_or_url.url)
    return url.startswith("sqlite")


def make_engine(url: str, *, pool_size: int = 10, max_overflow: int = 10, pre_ping: bool = True,
                wal_autocheckpoint: int = 1000, **kw: Any) -> Engine:
    """SQLite gets WAL and BEGIN IMMEDIATE (no upgrade deadlocks); Postgres gets a real pool.
    `wal_autocheckpoint`: WAL pages after which a committing SQLite connection checkpoints itself
    (SQLite's default; `serve` raises it and checkpoints on a side thread, see walcheckpoint)."""
    url = normalize_url(url)
    if is_sqlite(url):
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30, "cached_statements": 512}, **kw
        )

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _rec: Any) -> None:
            dbapi_conn.isolation_level = None  # we emit BEGIN ourselves
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute(f"PRAGMA wal_autocheckpoint={int(wal_autocheckpoint)}")
            cur.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Any) -> None:
            mode = conn.get_execution_options().get("sqlite_begin", "IMMEDIATE")
            conn.exec_driver_sql(f"BEGIN {mode}")

        return engine
    if "poolclass" not in kw:
        kw.update(pool_size=pool_size, max_overflow=max_overflow)
    return create_engine(url, pool_pre_ping=pre_ping, **kw)


def readonly(engine: Engine) -> Engine:
    """A view of the engine whose transactions do not take SQLite's write lock."""
    if is_sqlite(engine):
        return engine.execution_options(sqlite_begin="DEFERRED")
    return engine


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False, future=True)


@contextmanager
def unit_of_work(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One transaction owned by an entry point: commit on success, roll back on error."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


_ROW_TYPES: dict[tuple[str, ...], type] = {}


def _row_type(names: tuple[str, ...]) -> type:
    found = _ROW_TYPES.get(names)
    if found is None:
        found = _ROW_TYPES[names] = namedtuple("DriverRow", names, rename=True)  # type: ignore[misc]  # noqa: PYI024
    return found


def driver_execute(conn: Connection, sql: str, params: Any, *, many: bool = False,
                   planned: bool = False) -> list[Any]:
    """Run `sql` on the DBAPI cursor of `conn` (same transaction) and return its rows as named
    tuples. Skips SQLAlchemy's per-statement result set-up (~30 us, more than a small statement
    costs); driver errors still surface as SQLAlchemy's, and a lost connection is invalidated so
    the pool drops it, as SQLAlchemy itself would. `planned`: PostgreSQL plans this query for its
    values every time (psycopg would prepare it after five runs, and the generic plan PostgreSQL
    then keeps, if made while a table was nearly empty, stays a full scan as the table grows)."""
    dbapi_conn = conn.connection.dbapi_connection
    assert dbapi_conn is not None
    cursor = dbapi_conn.cursor()
    try:
        if many:
            cursor.executemany(sql, params)
            return []
        if planned and conn.dialect.name == "postgresql":
            cursor.execute(sql, params, prepare=False)  # type: ignore[call-arg]  # psycopg
        else:
            cursor.execute(sql, params)
        if cursor.description is None:
            return []
        make = _row_type(tuple(column[0] for column in cursor.description))
        return [make(*row) for row in cursor.fetchall()]
    except conn.dialect.loaded_dbapi.Error as err:
        lost = conn.dialect.is_disconnect(err, dbapi_conn, cursor)
        if lost:
            conn.invalidate(err)
        raise sa_exc.DBAPIError.instance(sql, params, err, conn.dialect.loaded_dbapi.Error,
                                         connection_invalidated=lost, dialect=conn.dialect) from err
    finally:
        cursor.close()


@dataclass(frozen=True)
class DriverSQL:
    """A statement compiled once into the driver's SQL and run on the DBAPI cursor: no compile,
    cache look-up, per-value processing or result set-up on each call (~35 us a statement in
    SQLAlchemy), which a hot path running a few statements per batch notices. Values must be in
    the driver's form; rows come back as named tuples of raw driver values."""

    sql: str
    order: tuple[str, ...] | None  # parameter names in position order (qmark drivers), else named
    constants: dict[str, Any]  # the statement's own literal values (e.g. status = 'resolved')
    planned: bool  # a query: PostgreSQL plans it for its values each time (see driver_execute)

    @classmethod
    def compile(cls, statement: Any, dialect: Dialect) -> DriverSQL:
        compiled = statement.compile(dialect=dialect)
        if "POSTCOMPILE" in compiled.string:
            raise ValueError("expanding IN cannot be compiled once; bind a list as one value")
        constants = {name: bind.value for name, bind in compiled.binds.items() if not bind.required}
        return cls(compiled.string, tuple(compiled.positiontup or ()) if compiled.positional else None,
                   constants, compiled.string.lstrip().upper().startswith("SELECT"))

    def _args(self, params: dict[str, Any]) -> Any:
        if self.constants:
            params = {**self.constants, **params}
        return params if self.order is None else tuple(params[k] for k in self.order)

    def rows(self, conn: Connection, params: dict[str, Any]) -> list[Any]:
        return driver_execute(conn, self.sql, self._args(params), planned=self.planned)

    def first(self, conn: Connection, params: dict[str, Any]) -> Any:
        found = self.rows(conn, params)
        return found[0] if found else None

    def scalar(self, conn: Connection, params: dict[str, Any]) -> Any:
        found = self.rows(conn, params)
        return found[0][0] if found else None

    def run_many(self, conn: Connection, rows: list[dict[str, Any]]) -> None:
        driver_execute(conn, self.sql, [self._args(row) for row in rows], many=True)
