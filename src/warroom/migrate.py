"""Apply Alembic migrations from the package (no alembic.ini needed on a user's machine)."""

from __future__ import annotations

from importlib import resources

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Engine

from warroom.db import make_engine, normalize_url

MIGRATION_LOCK = 0x7761_7272  # "warr": an application-wide advisory lock id


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files("warroom").joinpath("migrations")))
    cfg.set_main_option("sqlalchemy.url", normalize_url(url).replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "heads") -> None:
    """Bring the database to the newest schema; a no-op when it is already there."""
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                # Several nodes may start at once: one migrates, the others wait, then see it done.
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
            cfg = alembic_config(url)
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
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


def make_url_engine(url: str) -> Engine:
    return make_engine(url)
