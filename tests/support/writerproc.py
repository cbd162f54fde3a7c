"""A server whose ingest writer runs in a process of its own (what `serve` runs on PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from tests.support.server import ThreadedServer
from warroom.app import create_app
from warroom.core.clock import SystemClock
from warroom.core.db import session_factory
from warroom.core.settings import Settings
from warroom.ingest.fastpath.writer import ProcessWriter
from warroom.policy import reference_policy
from warroom.users import service as users


@contextmanager
def writer_process_server(
    db_url: str, engine: Engine, **settings: Any
) -> Iterator[tuple[ThreadedServer, str, ProcessWriter]]:
    """The server, an ingest token and the writer-process proxy (`settings`: more Settings fields)."""
    with session_factory(engine).begin() as s:
        _, token = users.create_token(s, now=SystemClock().now(), user=None, kind="ingest", name="tests")
    app = create_app(
        Settings(database_url=db_url, **settings), policy=reference_policy(), engine=engine, ingest_process=True
    )
    server = ThreadedServer(app).start()
    try:
        assert app.fastpath.process is not None
        yield server, token, app.fastpath.process
    finally:
        server.stop()


def ingest_headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "content-type": "application/json"}


def count(engine: Engine, model: type) -> int:
    with session_factory(engine)() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)
