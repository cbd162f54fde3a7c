"""Apply Alembic migrations from the package (no alembic.ini needed on a user's machine)."""

from __future__ import annotations

import fcntl
import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Literal

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DBAPIError

from warroom.core import outage
from warroom.core.db import PRIVATE, make_engine, normalize_url

MIGRATION_LOCK = 0x7761_7272  # "warr": an application-wide advisory lock id
log = logging.getLogger(__name__)
Schema = Literal["ready", "missing", "newer"]


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files("warroom").joinpath("migrations")))
    cfg.set_main_option("sqlalchemy.url", normalize_url(url).replace("%", "%%"))
    return cfg


@contextmanager
def _sqlite_file_lock(url: str) -> Iterator[None]:
    """SQLite's equivalent of the advisory lock: nodes (or threads) starting at once on one file
    take turns, so none meets another's half-done schema change or WAL switch."""
    database = make_url(normalize_url(url)).database
    if not database or database == ":memory:":
        yield
        return
    lock = Path(database).with_name(Path(database).name + ".migrate-lock")
    with os.fdopen(os.open(lock, os.O_RDWR | os.O_CREAT, PRIVATE), "r+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # per open file: threads of one process wait too
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def upgrade(url: str, revision: str = "heads") -> None:
    """Bring the database to the newest schema; a no-op when it is already there."""
    if normalize_url(url).startswith("sqlite"):
        with _sqlite_file_lock(url):
            _upgrade(url, revision)
    else:
        _upgrade(url, revision)


def _upgrade(url: str, revision: str) -> None:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            sqlite = conn.dialect.name == "sqlite"
            if sqlite:
                # SQLite alters a table by rebuilding it; with foreign keys on, dropping the old copy
                # would cascade (an alert's events deleted with it). Off outside the transaction, as
                # SQLite's ALTER procedure says, and checked before commit.
                conn.connection.dbapi_connection.execute("PRAGMA foreign_keys=OFF")  # type: ignore[union-attr]
            with conn.begin():
                if not sqlite:
                    # Several nodes may start at once: one migrates, the others wait, then see it done.
                    conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
                cfg = alembic_config(url)
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, revision)
                if sqlite and (broken := conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()):
                    raise RuntimeError(f"migration left rows without their parent: {broken[:5]}")
    finally:
        engine.dispose()


def pending(engine: Engine) -> list[str]:
    """Revisions the database lacks (empty = up to date)."""
    script = ScriptDirectory.from_config(alembic_config(str(engine.url)))
    with engine.connect() as conn:
        have = set(MigrationContext.configure(conn).get_current_heads())
    heads = set(script.get_heads())
    if heads <= have:
        return []
    return sorted(heads - have)


def current_heads(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        return set(MigrationContext.configure(conn).get_current_heads())


def schema_state(engine: Engine) -> tuple[Schema, list[str]]:
    """`ready`; `missing` and the revisions to apply; or `newer` (a later warroom migrated it:
    this one runs, as in a rolling upgrade) and the revisions it does not know."""
    script = ScriptDirectory.from_config(alembic_config(str(engine.url)))
    have = current_heads(engine)
    unknown = sorted(rev for rev in have if script.get_revision(rev) is None) if have else []
    if unknown:
        return "newer", unknown
    missing = sorted(set(script.get_heads()) - have)
    return ("missing", missing) if missing else ("ready", [])


def wait_for_schema(url: str, *, stop: threading.Event | None = None, poll: float = 0.5) -> bool:
    """Until the schema is there (another node or `warroom db upgrade` migrates it) and the
    database answers: a worker or `serve --no-migrate` started with the first `serve` waits
    instead of failing on tables that do not exist yet. False if stopped first."""
    engine = make_engine(url, pool_size=1, max_overflow=0, ping_idle=None)
    said, wait = "", poll
    try:
        while stop is None or not stop.is_set():
            state: str
            try:
                state, revisions = schema_state(engine)
            except (DBAPIError, RuntimeError) as exc:  # not reachable yet (or in mid-creation)
                state, revisions = "unreachable", [outage.one_line(exc)]
            if state in ("ready", "newer"):
                if state == "newer":
                    log.warning("the database schema is newer than this warroom (%s)", ", ".join(revisions))
                if said:
                    log.info("database schema ready")
                return True
            now_saying = f"{state}: {', '.join(revisions)}"
            if now_saying != said:
                log.warning(
                    "waiting for the database schema (%s): `warroom db upgrade`, or a `warroom serve` "
                    "without --no-migrate, applies it",
                    now_saying,
                )
                said = now_saying
            if stop is not None:
                stop.wait(wait)
            else:
                time.sleep(wait)
            wait = min(wait * 2, 5.0)
        return False
    finally:
        engine.dispose()
