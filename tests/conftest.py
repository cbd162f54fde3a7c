"""Fixtures: every database test runs on SQLite and on PostgreSQL, over real HTTP."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from tests.support import databases
from tests.support.server import Running, ThreadedServer
from warroom.app import create_app
from warroom.core.clock import FakeClock
from warroom.core.db import session_factory
from warroom.core.settings import Settings
from warroom.policy import Policy, reference_policy
from warroom.users import bootstrap
from warroom.users import service as users

# OWASP's minimum argon2id (19 MiB) instead of RFC 9106's 64 MiB: a real KDF at 1/5 of the cost of
# the first admin's password on every test server (settings are read lazily, after this).
os.environ.setdefault("WARROOM_PASSWORD_KDF", "owasp-minimum")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
T0 = datetime(2026, 10, 5, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return databases.migrated_sqlite_template(tmp_path_factory.mktemp("sqlite"))


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    reason = databases.postgres_available()
    if reason:
        if IN_CI:
            pytest.fail(f"CI requires PostgreSQL: {reason}")
        pytest.skip(reason)
    url = databases.create_pg_database()
    try:
        from warroom import migrate

        migrate.upgrade(url)
        yield url
    finally:
        databases.drop_pg_database(url)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty database of each kind."""
    if request.param == "sqlite":
        yield databases.fresh_sqlite(request.getfixturevalue("sqlite_template"), tmp_path)
        return
    url = request.getfixturevalue("pg_url")
    engine = databases.engine_for(url)
    databases.truncate_all(engine)
    engine.dispose()
    yield url


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = databases.engine_for(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def policy() -> Policy:
    return reference_policy()


@pytest.fixture
def sessions(engine: Engine):  # type: ignore[no-untyped-def]
    return session_factory(engine)


def start_server(
    engine: Engine,
    db_url: str,
    policy: Policy,
    clock: FakeClock | None,
    run_worker: bool = False,
    **settings_kw: object,
) -> Running:
    settings = Settings(database_url=db_url, **settings_kw)  # type: ignore[arg-type]
    app = create_app(settings, policy=policy, clock=clock, engine=engine, run_worker=run_worker)
    with session_factory(engine).begin() as s:
        first = bootstrap.ensure_admin(s, now=(clock.now() if clock else T0))
    assert first is not None
    server = ThreadedServer(app).start()
    return Running(app=app, server=server, admin_token=first.token)


@pytest.fixture
def server(engine: Engine, db_url: str, policy: Policy, clock: FakeClock) -> Iterator[Running]:
    """warroom on a free loopback port, with a fake clock the test moves."""
    running = start_server(engine, db_url, policy, clock)
    yield running
    running.server.stop()


@pytest.fixture
def make_user(server: Running):  # type: ignore[no-untyped-def]
    """make_user(handle, role) -> token, through the real API."""

    def make(handle: str, role: str = "responder", **kw: str) -> str:
        with server.admin() as c:
            r = c.post("/api/v1/users", json={"handle": handle, "role": role, **kw})
            assert r.status_code == 201, r.text
            r = c.post("/api/v1/tokens", json={"user": handle})
            assert r.status_code == 201, r.text
            token: str = r.json()["token"]
            return token

    return make


__all__ = ["T0", "users"]
