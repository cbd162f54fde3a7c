"""Issue 18 through the ingest writer in a process of its own (what `serve` runs on PostgreSQL):
the same grouping by environment, start-time clock and flap episodes as the in-process writer."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Engine

from tests.support.alerts import payload
from tests.support.server import ThreadedServer, http_client
from tests.support.writerproc import ingest_headers
from tests.test_ingest_process import served  # noqa: F401 (the writer-process server fixture)
from warroom.alerts.models import Alert
from warroom.core.db import session_factory
from warroom.ingest import grouping
from warroom.ingest.fastpath.writer import ProcessWriter
from warroom.scheduler.models import DueJob


def _dd(alert_id: str, tags: str) -> dict[str, Any]:
    body: dict[str, Any] = payload("datadog_rich_triggered")
    body.update(alert_id=alert_id, tags=tags, scope=tags, date=str(int(datetime.now(UTC).timestamp() * 1000)))
    return body


def _am(starts: datetime, status: str = "firing") -> dict[str, Any]:
    body: dict[str, Any] = payload("alertmanager_firing")
    alert = {**body["alerts"][0], "status": status, "fingerprint": "fp-process", "startsAt": starts.isoformat()}
    return {**body, "status": status, "alerts": [alert]}


def test_writer_process_groups_by_environment_and_counts_from_the_start(
    served: tuple[ThreadedServer, str, ProcessWriter],  # noqa: F811 (the shared fixture)
    engine: Engine,
) -> None:
    server, token, _ = served
    auth = ingest_headers(token)
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
