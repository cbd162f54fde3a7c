"""Engine and session setup for SQLite (WAL, the embedded default) and PostgreSQL."""

from __future__ import annotations

import logging
import os
import stat
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import JSON, DateTime, MetaData, create_engine, event
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect, Engine, make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

from warroom.core import writeturns
from warroom.core.clock import as_utc

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


log = logging.getLogger(__name__)
PRIVATE = 0o600  # the database holds password and token hashes: its owner only


def private_file(path: str | Path) -> None:
    """Create `path` readable and writable by its owner only, or take group and other access away
    from an existing one. SQLite gives the WAL and shared-memory files the database's mode."""
    path = Path(path)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE))
        return
    except FileExistsError:
        pass
    except OSError:
        return  # no such folder, read-only...: SQLite says so in its own words when it connects
    for each in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        try:
            mode = stat.S_IMODE(each.stat().st_mode)
            if mode & 0o077:
                each.chmod(PRIVATE)
                log.info("%s was readable by others (%o): now %o", each, mode, PRIVATE)
        except FileNotFoundError:
            continue
        except PermissionError:
            log.warning("%s is readable by others and not ours to change: chmod 600 it", each)


def sqlite_path(url: str) -> str | None:
    """The file of a SQLite URL (None: in memory, or not SQLite)."""
    if not is_sqlite(url):
        return None
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return database


def is_sqlite(engine_or_url: Engine | str) -> bool:
    url = engine_or_url if isinstance(engine_or_url, str) else str(engine_or_url.url)
    return url.startswith("sqlite")


def make_engine(
    url: str,
    *,
    pool_size: int = 10,
    max_overflow: int = 10,
    ping_idle: float | None = 1.0,
    wal_autocheckpoint: int = 1000,
    **kw: Any,
) -> Engine:
    """SQLite gets WAL and BEGIN IMMEDIATE (no upgrade deadlocks); Postgres gets a real pool.
    `wal_autocheckpoint`: WAL pages after which a committing SQLite connection checkpoints itself
    (SQLite's default; `serve` raises it and checkpoints on a side thread, see walcheckpoint).
    `ping_idle`: seconds a pooled PostgreSQL connection may sit unused before it is pinged on
    checkout (None: never; see `ping_when_idle`)."""
    url = normalize_url(url)
    if is_sqlite(url):
        if (path := sqlite_path(url)) is not None:
            private_file(path)
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

        turns = writeturns.attach(engine)

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Any) -> None:
            mode = conn.get_execution_options().get("sqlite_begin", "IMMEDIATE")
            if mode == "DEFERRED":
                conn.exec_driver_sql(f"BEGIN {mode}")
                return
            with turns.writer():  # an ingest batch open in this process lets this writer go first
                conn.exec_driver_sql(f"BEGIN {mode}")

        return engine
    if "poolclass" not in kw:
        kw.update(pool_size=pool_size, max_overflow=max_overflow)
    engine = create_engine(url, **kw)
    if ping_idle is not None:
        ping_when_idle(engine, ping_idle)
    return engine


def ping_when_idle(engine: Engine, idle: float) -> None:
    """SQLAlchemy's pool_pre_ping, but only for a connection unused for `idle` seconds: a
    connection back in the pool a moment ago is alive (a ping per checkout was a quarter of the
    ingest writer's time), while one that sat through a database restart is replaced before use.
    A connection that dies between two close uses fails its transaction, which invalidates the
    whole pool (the API answers 503 and the ingest writer retries the batch on a fresh one)."""

    @event.listens_for(engine, "checkin")
    def _checkin(dbapi_conn: Any, record: Any) -> None:
        if dbapi_conn is not None:
            record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checkout(dbapi_conn: Any, record: Any, proxy: Any) -> None:
        since = record.info.get("idle_since")  # none on a new connection (info dies with it)
        if since is None or time.monotonic() - since < idle:
            return
        try:
            engine.dialect.do_ping(dbapi_conn)
        except Exception as exc:  # noqa: BLE001 - the pool reconnects and checks out again
            raise DisconnectionError(f"stale pooled connection: {exc}") from exc


def readonly(engine: Engine) -> Engine:
    """A view of the engine whose transactions do not take SQLite's write lock."""
    if is_sqlite(engine):
        return engine.execution_options(sqlite_begin="DEFERRED")
    return engine


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that wake the workers when they commit queued work (`core.wake`)."""
    from warroom.core import wake

    return wake.attach(sessionmaker(bind=engine, expire_on_commit=False, future=True))
