"""Issue 18 through the ingest writer in a process of its own (what `serve` runs on PostgreSQL):
the same grouping by environment, start-time clock and flap episodes as the in-process writer."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine

from tests.support.server import ThreadedServer, http_client
from warroom.alerts.models import Alert
from warroom.app import create_app
from warroom.core.clock import SystemClock
from warroom.core.db import session_factory
from warroom.core.settings import Settings
from warroom.ingest import grouping
from warroom.policy import reference_policy
from warroom.scheduler.models import DueJob
from warroom.users import service as users

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "alerts"


@pytest.fixture
def served(db_url: str, engine: Engine) -> Iterator[tuple[ThreadedServer, str]]:
    with session_factory(engine).begin() as s:
        _, token = users.create_token(s, now=SystemClock().now(), user=None, kind="ingest", name="tests")
    app = create_app(Settings(database_url=db_url), policy=reference_policy(), engine=engine, ingest_process=True)
    server = ThreadedServer(app).start()
    try:
        assert app.fastpath.process is not None
        yield server, token
    finally:
        server.stop()


def _dd(alert_id: str, tags: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads((FIXTURES / "datadog_rich_triggered.json").read_text())
    body.update(alert_id=alert_id, tags=tags, scope=tags, date=str(int(datetime.now(UTC).timestamp() * 1000)))
    return body


def _am(starts: datetime, status: str = "firing") -> dict[str, Any]:
    body: dict[str, Any] = json.loads((FIXTURES / "alertmanager_firing.json").read_text())
    alert = {**body["alerts"][0], "status": status, "fingerprint": "fp-process", "startsAt": starts.isoformat()}
    return {**body, "status": status, "alerts": [alert]}


def test_writer_process_groups_by_environment_and_counts_from_the_start(
    served: tuple[ThreadedServer, str], engine: Engine
) -> None:
    server, token = served
    auth = {"Authorization": f"Bearer {token}", "content-type": "application/json"}
    started = (datetime.now(UTC) - timedelta(minutes=20)).replace(microsecond=0)
    with http_client(base_url=server.url, timeout=30) as c:

        def post(source: str, body: dict[str, Any]) -> dict[str, Any]:
            r = c.post(f"/api/v1/ingest/{source}", content=json.dumps(body).encode(), headers=auth)
            assert r.status_code == 202, r.text
            out: dict[str, Any] = r.json()["alerts"][0]
            return out

        prod = post("datadog", _dd("p1", "env:prod,service:sis,users_per_hour:5000"))
        staging = post("datadog", _dd("s1", "env:staging,service:sis"))
        first = post("alertmanager", _am(started))
        post("alertmanager", _am(started, "resolved"))
        refire = post("alertmanager", _am(datetime.now(UTC)))  # within the flap window: the same episode
    assert prod["incident"] is not None and staging["incident"] is None
    with session_factory(engine)() as s:
        rows = {a.id: a for a in s.scalars(select(Alert))}
        due = s.scalar(
            select(DueJob.due_at).where(
                DueJob.kind == grouping.ESCALATE, DueJob.subject == grouping.alert_subject(refire["id"])
            )
        )
    assert rows[first["id"]].started_at == started and rows[refire["id"]].started_at == started
    assert due is not None and due <= datetime.now(UTC)  # its 15 minutes are over: due at once
