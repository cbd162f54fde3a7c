"""The ingest writer in a process of its own (what `serve` runs on PostgreSQL): the same answers
as the in-process writer, a 503 and a new child when the child dies, nothing stored twice."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections.abc import Iterator

import pytest
from sqlalchemy.engine import Engine

from tests.support.alerts import payload
from tests.support.server import ThreadedServer, http_client
from tests.support.wired import HOOKS
from tests.support.writerproc import count, ingest_headers, writer_process_server
from warroom.alerts.models import Alert, AlertEvent
from warroom.core.settings import Settings, writer_process_wanted
from warroom.ingest.fastpath.writer import ProcessWriter
from warroom.policy import reference_policy


@pytest.fixture
def served(db_url: str, engine: Engine) -> Iterator[tuple[ThreadedServer, str, ProcessWriter]]:
    with writer_process_server(db_url, engine) as got:
        yield got


def _body(key: str) -> bytes:
    body = payload("datadog_rich_triggered")
    body["alert_id"] = key
    return json.dumps(body).encode()


def test_alerts_stored_through_the_writer_process(
    served: tuple[ThreadedServer, str, ProcessWriter], engine: Engine
) -> None:
    server, token, writer = served
    assert writer.child is not None and writer.child.poll() is None
    with http_client(base_url=server.url, timeout=30) as c:
        auth = ingest_headers(token)
        first = c.post("/api/v1/ingest/datadog", content=_body("901"), headers=auth)
        again = c.post("/api/v1/ingest/datadog", content=_body("901"), headers=auth)
        wrong = c.post(
            "/api/v1/ingest/datadog", content=_body("902"), headers={**auth, "Authorization": "Bearer wri_nope"}
        )
        broken = c.post("/api/v1/ingest/datadog", content=b"{nope", headers=auth)
        metrics = c.get("/metrics").text
    assert first.status_code == 202, first.text
    assert first.json()["alerts"][0]["duplicate"] is False
    assert again.status_code == 202 and again.json()["alerts"][0]["duplicate"] is True
    assert wrong.status_code == 401 and broken.status_code == 400
    assert (count(engine, Alert), count(engine, AlertEvent)) == (1, 1)
    assert "warroom_ingest_batch_deliveries_count" in metrics  # the child's batches, counted here


def test_a_dead_writer_process_is_answered_503_and_replaced(
    served: tuple[ThreadedServer, str, ProcessWriter], engine: Engine
) -> None:
    server, token, writer = served
    assert writer.child is not None
    dead = writer.child.pid
    os.kill(dead, signal.SIGKILL)
    statuses: list[int] = []
    with http_client(base_url=server.url, timeout=30) as c:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            r = c.post("/api/v1/ingest/datadog", content=_body("903"), headers=ingest_headers(token))
            statuses.append(r.status_code)
            if r.status_code == 503:
                assert r.headers["retry-after"] == "1"
            if r.status_code == 202:
                break
            time.sleep(0.05)
    assert statuses[-1] == 202, statuses
    assert writer.restarts >= 1 and writer.child is not None and writer.child.pid != dead
    assert (count(engine, Alert), count(engine, AlertEvent)) == (1, 1)  # retries stored it once


def test_serve_picks_the_writer_process_for_postgresql_only() -> None:
    assert writer_process_wanted(Settings(database_url="postgresql://x/y"))
    assert not writer_process_wanted(Settings(database_url="sqlite:///w.db"))
    assert writer_process_wanted(Settings(database_url="sqlite:///w.db", ingest_writer="process"))
    assert not writer_process_wanted(Settings(database_url="postgresql://x/y", ingest_writer="thread"))


def test_a_writer_process_that_cannot_start_fails_the_start(capfd: pytest.CaptureFixture[str]) -> None:
    writer = ProcessWriter(Settings(database_url="nosuchdb://x/y"), reference_policy(), HOOKS)
    with pytest.raises(RuntimeError, match="ingest writer process did not start"):
        asyncio.run(writer.start())
    assert writer.child is not None and writer.child.returncode not in (None, 0)
    assert "nosuchdb" in capfd.readouterr().err  # the child's own error, for the operator


def test_the_writer_process_leaves_shutdown_to_the_server(
    served: tuple[ThreadedServer, str, ProcessWriter], engine: Engine
) -> None:
    """Ctrl-C and systemd signal every process of the group: the child must not die mid-batch."""
    server, token, writer = served
    assert writer.child is not None
    child = writer.child.pid
    os.kill(child, signal.SIGTERM)
    os.kill(child, signal.SIGINT)
    with http_client(base_url=server.url, timeout=30) as c:
        r = c.post("/api/v1/ingest/datadog", content=_body("904"), headers=ingest_headers(token))
    assert r.status_code == 202, r.text
    assert writer.child.pid == child and writer.child.poll() is None and writer.restarts == 0
    server.stop()
    assert writer.child.wait(10) == 0  # the server's end of file ended it, cleanly


def test_big_and_small_deliveries_together_through_the_writer_process(
    served: tuple[ThreadedServer, str, ProcessWriter], engine: Engine
) -> None:
    """A delivery too big to write from the event loop without blocking goes through the sender
    thread; small ones sent meanwhile queue behind it (in order), and every one is answered."""
    server, token, _ = served
    big = payload("alertmanager_firing")
    template = big["alerts"][0]
    big["alerts"] = [{**template, "fingerprint": f"big-{n}"} for n in range(400)]

    def post(body: bytes, path: str) -> int:
        with http_client(base_url=server.url, timeout=60) as c:
            return c.post(f"/api/v1/ingest/{path}", content=body, headers=ingest_headers(token)).status_code

    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(8) as pool:
        codes = list(
            pool.map(
                post,
                [json.dumps(big).encode(), *(_body(f"s{n}") for n in range(30))],
                ["alertmanager", *["datadog"] * 30],
            )
        )
    assert codes == [202] * 31, codes
    assert count(engine, Alert) == 430
