"""Helpers for the Datadog mirror tests: settings pointed at the fake, a worker, declaring through the API."""

from __future__ import annotations

from typing import Any

from sqlalchemy import update

from tests.support import datadog_fake
from tests.support.server import Running
from tests.support.wired import HOOKS, JOBS
from warroom.core.clock import Clock
from warroom.core.settings import Settings
from warroom.datadog.models import DatadogMirror
from warroom.incidents.models import Incident
from warroom.users.models import User
from warroom.worker import Worker


def settings(db_url: str, fake: datadog_fake.DatadogServer, **kw: Any) -> Settings:
    return Settings(
        database_url=db_url,
        datadog_api_key=kw.pop("api_key", datadog_fake.API_KEY),
        datadog_app_key=kw.pop("app_key", datadog_fake.APP_KEY),
        datadog_api_url=fake.base,
        **kw,
    )


def worker(server: Running, clock: Clock, db_url: str, fake: datadog_fake.DatadogServer, **kw: Any) -> Worker:
    return Worker(
        server.state.sessions,
        settings=settings(db_url, fake, **kw),
        policy=server.state.policy,
        clock=clock,
        worker_id=kw.get("worker_id", "dd-test"),
        jobs=JOBS,
        hooks=HOOKS,
    )


def set_email(server: Running, handle: str, email: str) -> None:
    with server.state.sessions.begin() as s:
        s.execute(update(User).where(User.handle == handle).values(email=email))


def declare(server: Running, priority: str = "P1", **kw: Any) -> str:
    with server.admin() as c:
        r = c.post(
            "/api/v1/incidents",
            json={"services": ["sis"], "priority": priority, "severity": "SEV-2", "title": "Sign-in failing", **kw},
        )
        assert r.status_code == 201, r.text
        return str(r.json()["id"])


def incident(server: Running, ref: str) -> dict[str, Any]:
    with server.admin() as c:
        r = c.get(f"/api/v1/incidents/{ref}")
        assert r.status_code == 200, r.text
        return dict(r.json())


def mirror_row(server: Running, ref: str) -> DatadogMirror:
    with server.state.sessions() as s:
        row = s.get(DatadogMirror, int(ref.split("-")[1]))
        assert row is not None
        s.expunge(row)
        return row


def datadog_ids(server: Running, ref: str) -> tuple[str | None, int | None]:
    with server.state.sessions() as s:
        inc = s.get(Incident, int(ref.split("-")[1]))
        assert inc is not None
        return inc.datadog_id, inc.datadog_public_id
