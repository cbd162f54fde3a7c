"""A pooled PostgreSQL connection whose server process went away (a restart, an idle timeout) is
replaced without failing anyone: pinged on checkout after sitting idle, and the ingest writer runs
a batch again when its connection turns out dead before the commit."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from warroom.core.db import make_engine, session_factory
from warroom.ingest.fastpath.groupcommit import GroupCommitter
from warroom.users.models import AppSetting

pytestmark = pytest.mark.postgres


@pytest.fixture
def admin(pg_url: str) -> Iterator[Engine]:
    eng = make_engine(pg_url, ping_idle=None, isolation_level="AUTOCOMMIT")
    yield eng
    eng.dispose()


def _pooled_backend(engine: Engine) -> int:
    """Use the pool's one connection and return its server process id."""
    with engine.connect() as conn:
        return int(conn.scalar(sa.text("SELECT pg_backend_pid()")))


def _kill(admin: Engine, pid: int) -> None:
    with admin.connect() as conn:
        assert conn.scalar(sa.text("SELECT pg_terminate_backend(:pid, 5000)"), {"pid": pid})


@pytest.mark.parametrize("ping_idle", [0.0, None])
def test_an_idle_connection_killed_on_the_server_is_replaced_before_use(
    pg_url: str, admin: Engine, ping_idle: float | None
) -> None:
    engine = make_engine(pg_url, pool_size=1, max_overflow=0, ping_idle=ping_idle)
    try:
        dead = _pooled_backend(engine)
        _kill(admin, dead)
        if ping_idle is None:  # no ping: the first use finds it dead (what the ping is for)
            with pytest.raises(sa_exc.DBAPIError) as failed:
                _pooled_backend(engine)
            assert failed.value.connection_invalidated
        assert _pooled_backend(engine) != dead
    finally:
        engine.dispose()


def test_a_connection_used_a_moment_ago_is_not_pinged(pg_url: str) -> None:
    engine = make_engine(pg_url, pool_size=1, max_overflow=0, ping_idle=60.0)
    pings: list[str] = []
    real_ping = engine.dialect.do_ping

    def counted(dbapi_conn):  # type: ignore[no-untyped-def]
        pings.append("ping")
        return real_ping(dbapi_conn)

    engine.dialect.do_ping = counted  # type: ignore[method-assign]
    try:
        for _ in range(5):
            _pooled_backend(engine)
        assert pings == []  # a round trip per checkout was a quarter of the ingest writer's time
    finally:
        engine.dispose()


def test_the_ingest_writer_runs_a_batch_again_when_its_connection_died_since_last_use(
    pg_url: str, admin: Engine
) -> None:
    engine = make_engine(pg_url, pool_size=1, max_overflow=0, ping_idle=None)
    writer = GroupCommitter(session_factory(engine), idle_exit=0.5)

    def put(key: str):  # type: ignore[no-untyped-def]
        def work(session: Session) -> str:
            session.add(AppSetting(key=key, value="v"))
            session.flush()
            return key

        return work

    try:
        assert writer.submit(put("before")).result(10) == "before"
        _kill(admin, _pooled_backend(engine))  # the pooled connection dies between two batches
        assert writer.submit(put("after")).result(10) == "after"  # no 503 for this sender
        with session_factory(engine)() as s:
            mine = sa.select(AppSetting.key).where(AppSetting.key.in_(["after", "before"]))  # pg_url is shared
            assert sorted(s.scalars(mine)) == ["after", "before"]
        assert writer.replays == 0
    finally:
        engine.dispose()
