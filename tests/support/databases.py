"""Real test databases: a migrated SQLite file and a PostgreSQL database created per run."""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url

from warroom import migrate
from warroom.core.db import make_engine, normalize_url
from warroom.models import Base

DEFAULT_PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


def pg_admin_url() -> str:
    return os.environ.get("WARROOM_TEST_DATABASE_URL") or DEFAULT_PG_ADMIN


def postgres_available() -> str | None:
    """None when reachable, else the reason (CI turns that reason into a failure)."""
    try:
        engine = sa.create_engine(
            normalize_url(pg_admin_url()), isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3}
        )
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        engine.dispose()
        return None
    except Exception as exc:  # noqa: BLE001
        return f"PostgreSQL at {pg_admin_url()} is unreachable: {type(exc).__name__}: {exc}"


def create_pg_database() -> str:
    """A fresh database on the test server; returns its URL."""
    name = f"warroom_test_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(normalize_url(pg_admin_url()), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(normalize_url(pg_admin_url())).set(database=name).render_as_string(hide_password=False)


def drop_pg_database(url: str) -> None:
    name = make_url(url).database
    admin = sa.create_engine(normalize_url(pg_admin_url()), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def migrated_sqlite_template(directory: Path) -> Path:
    path = directory / "template.db"
    migrate.upgrade(f"sqlite:///{path}")
    return path


def fresh_sqlite(template: Path, directory: Path) -> str:
    target = directory / f"t_{uuid.uuid4().hex[:8]}.db"
    shutil.copy(template, target)
    return f"sqlite:///{target}"


def truncate_all(engine: Engine) -> None:
    """Empty every table (keeps the schema and alembic_version) between tests."""
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(sa.text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE"))
        else:
            for t in tables:
                conn.execute(sa.text(f'DELETE FROM "{t}"'))
            conn.execute(sa.text("DELETE FROM sqlite_sequence")) if _has_seq(conn) else None


def _has_seq(conn: sa.Connection) -> bool:
    return bool(conn.execute(sa.text("SELECT 1 FROM sqlite_master WHERE name='sqlite_sequence'")).first())


def engine_for(url: str) -> Engine:
    return make_engine(url)
