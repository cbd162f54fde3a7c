"""An unhandled exception (a bug) answers the JSON error envelope with the request id and is logged once,
through our redacting formatter, without SQL parameters (issue 19 item 6); both databases."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from fastapi import APIRouter
from sqlalchemy import text
from sqlalchemy.engine import Engine

from tests.conftest import T0
from tests.support.server import Running, ThreadedServer
from warroom import wiring
from warroom.api.deps import DB
from warroom.app import create_app
from warroom.core.clock import FakeClock
from warroom.core.db import session_factory
from warroom.core.logs import make_handler
from warroom.core.settings import Settings
from warroom.policy import Policy
from warroom.users import bootstrap

SECRET = "wru_secretsecretsecretsecret"

# A route with a real bug: it inserts a user whose handle is taken (a unique violation is no outage).
bug = APIRouter()


@bug.post("/api/v1/test-bug")
def buggy(db: DB) -> dict[str, str]:
    db.execute(
        text("INSERT INTO users (handle, name, role, active, created_at) VALUES ('admin', :name, 'viewer', true, :at)"),
        {"name": SECRET, "at": T0},
    )
    db.flush()
    return {"never": "reached"}


@bug.get("/api/v1/test-crash")
def crash() -> dict[str, str]:
    raise RuntimeError(f"crashed holding {SECRET}")


@pytest.fixture
def buggy_server(engine: Engine, db_url: str, policy: Policy, clock: FakeClock) -> Iterator[Running]:
    registry = wiring.build_registry()
    registry.add_router(bug)
    app = create_app(Settings(database_url=db_url), policy=policy, clock=clock, engine=engine, registry=registry)
    with session_factory(engine).begin() as s:
        first = bootstrap.ensure_admin(s, now=clock.now())
    assert first is not None
    server = ThreadedServer(app).start()
    yield Running(app=app, server=server, admin_token=first.token)
    server.stop()


@pytest.fixture
def logs() -> Iterator[tuple[io.StringIO, io.StringIO]]:
    """Our JSON log lines (root), and whatever uvicorn's own error logger writes."""
    ours, theirs = io.StringIO(), io.StringIO()
    handler = make_handler(Settings(log_json=True), ours)
    uvicorn_handler = logging.StreamHandler(theirs)
    root, uvicorn_error = logging.getLogger(), logging.getLogger("uvicorn.error")
    root.addHandler(handler)
    uvicorn_error.addHandler(uvicorn_handler)
    try:
        yield ours, theirs
    finally:
        root.removeHandler(handler)
        uvicorn_error.removeHandler(uvicorn_handler)


def test_unhandled_errors_answer_the_envelope_and_log_redacted(
    buggy_server: Running, logs: tuple[io.StringIO, io.StringIO]
) -> None:
    ours, theirs = logs
    with buggy_server.admin() as c:
        r = c.post("/api/v1/test-bug", headers={"X-Request-ID": "bug-1"})
        crashed = c.get("/api/v1/test-crash")
        after = c.get("/api/v1/me")  # the server carries on
    assert r.status_code == 500 and r.headers["content-type"] == "application/json"
    assert r.headers["x-request-id"] == "bug-1"
    error = r.json()["error"]
    assert error["code"] == "internal_error" and error["details"] == {"request_id": "bug-1"}
    assert "bug-1" in error["message"] and "INSERT" not in r.text and SECRET not in r.text
    assert (
        crashed.status_code == 500
        and crashed.json()["error"]["details"]["request_id"] == crashed.headers["x-request-id"]
    )
    assert after.status_code == 200
    assert theirs.getvalue() == ""  # uvicorn logged nothing itself
    lines = [json.loads(line) for line in ours.getvalue().splitlines()]
    failures = [x for x in lines if x["logger"] == "warroom.errors"]
    assert [x["request_id"] for x in failures] == ["bug-1", crashed.headers["x-request-id"]]
    assert "IntegrityError" in failures[0]["msg"] and "POST /api/v1/test-bug" in failures[0]["msg"]
    assert "Traceback" in failures[0]["exc"] and "RuntimeError" in failures[1]["exc"]
    assert SECRET not in ours.getvalue()  # parameters hidden; a token in a message redacted
    assert "[SQL parameters hidden" in failures[0]["exc"] and "[redacted]" in failures[1]["exc"]
    with buggy_server.state.sessions() as s:  # the failed unit of work left nothing behind
        assert s.scalar(text("SELECT count(*) FROM users")) == 1
