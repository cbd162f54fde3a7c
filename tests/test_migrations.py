"""Migrations: the first released schema upgrades in place, and models never drift from them."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from tests.support import databases
from tests.support.wired import HOOKS
from warroom import migrate
from warroom.core.db import make_engine
from warroom.models import Base

FIRST_RELEASE = "0001_core"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path):  # type: ignore[no-untyped-def]
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'm.db'}"
        return
    reason = databases.postgres_available()
    if reason:
        pytest.skip(reason)
    url = databases.create_pg_database()
    yield url
    databases.drop_pg_database(url)


def test_single_head() -> None:
    script = ScriptDirectory.from_config(migrate.alembic_config("sqlite://"))
    assert len(script.get_heads()) == 1, f"migrations must form one line: {script.get_heads()}"


def test_upgrade_from_first_release_keeps_data(empty_url: str) -> None:
    cfg = migrate.alembic_config(empty_url)
    command.upgrade(cfg, FIRST_RELEASE)
    engine = make_engine(empty_url)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO users (handle, name, role, active, created_at) "
                "VALUES ('old', 'Old User', 'admin', true, '2026-01-01 00:00:00+00')"
            )
        )
        conn.execute(
            sa.text(
                "INSERT INTO incidents (title, state, priority, severity, commander, declared_by, roles,"
                " monitors, teams, acknowledged_by_team, pending_tasks, declared_automatically,"
                " declared_at, missed_updates, updated_at) VALUES ('old incident', 'active', 'P1',"
                " 'SEV-1', 'old', 'old', '{}', '[]', '[]', false, '[]', false,"
                " '2026-01-01 00:00:00+00', 0, '2026-01-01 00:00:00+00')"
            )
        )
    migrate.upgrade(empty_url)
    migrate.upgrade(empty_url)  # idempotent
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT title FROM incidents")).scalar() == "old incident"
        assert conn.execute(sa.text("SELECT handle FROM users")).scalar() == "old"
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()
    assert diff == [], f"models and migrations differ: {diff}"


def test_concurrent_upgrades_are_safe(empty_url: str) -> None:
    """Two nodes starting at once both run `upgrade`; the schema ends up right, once."""
    import threading

    errors: list[BaseException] = []

    def go() -> None:
        try:
            migrate.upgrade(empty_url)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=go) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    engine = make_engine(empty_url)
    assert not migrate.pending(engine)
    engine.dispose()


def test_event_keys_rewritten_so_old_events_still_dedupe(empty_url: str) -> None:
    """0010 changes the event key's form; an event stored before it is still a duplicate after it."""
    import hashlib
    from datetime import UTC, datetime

    from warroom.core.db import session_factory
    from warroom.ingest import parsers
    from warroom.ingest.fastpath import records, store
    from warroom.policy import load_policy

    cfg = migrate.alembic_config(empty_url)
    command.upgrade(cfg, "0009_alert_order")
    (item,), _ = parsers.parse(
        "datadog",
        {
            "alert_id": "42",
            "cycle_key": "7",
            "transition": "Triggered",
            "title": "[Triggered] sis is down",
            "tags": "env:prod,service:sis",
        },
    )
    engine = make_engine(empty_url)
    with engine.begin() as conn:
        alert_id = conn.execute(
            sa.text(
                "INSERT INTO alerts (source, dedup_key, open_key, service, mapped, environment, tier, title, status,"
                " transition, priority, priority_rule, priority_reason, labels, first_seen_at, last_seen_at,"
                " event_count) VALUES ('datadog', :k, :k, 'sis', true, 'prod', 1, 'sis is down', 'firing',"
                " 'Triggered', 'P3', 'r', 'r', '{}', '2026-01-01 00:00:00+00', '2026-01-01 00:00:00+00', 1)"
                " RETURNING id"
            ),
            {"k": item.dedup_key},
        ).scalar_one()
        old_key = hashlib.sha256(f"{alert_id}\n{item.content_hash()}".encode()).hexdigest()  # the 0009 form
        conn.execute(
            sa.text(
                "INSERT INTO alert_events (alert_id, event_key, source, status, transition, received_at, raw)"
                " VALUES (:a, :e, 'datadog', 'firing', 'Triggered', '2026-01-01 00:00:00+00', :raw)"
            ),
            {"a": alert_id, "e": old_key, "raw": item.raw},
        )
    migrate.upgrade(empty_url)
    with session_factory(engine)() as session:
        (out,) = store.ingest(session, policy=load_policy(None), hooks=HOOKS, now=datetime.now(UTC), items=[item])
        session.commit()
        assert (out.alert_id, out.duplicate, out.created) == (alert_id, True, False)
        assert (
            session.execute(sa.text("SELECT event_key FROM alert_events")).scalar_one()
            == f"{alert_id:012x}{old_key[:52]}"
            == records.event_key(alert_id, item)
        )
    engine.dispose()
