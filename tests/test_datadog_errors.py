"""The mirror when Datadog fails: 429 with its reset, 5xx and timeouts (never a duplicate), 4xx in both
error shapes, refused keys (pause, /healthz, resume), a Datadog incident deleted there; both databases."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from tests.support import datadog as dd
from tests.support.datadog_fake import DatadogServer
from tests.support.http_fakes import Fault
from tests.support.notify import make_policy
from tests.support.server import Running
from tests.support.web import login, make_web_user
from warroom.core.clock import FakeClock
from warroom.policy import Policy


@pytest.fixture
def fake() -> Iterator[DatadogServer]:
    with DatadogServer() as server:
        yield server


def _room(server: Running, ref: str) -> str:
    """The incident room page as a signed-in responder sees it."""
    make_web_user(server, "webby")
    client, _ = login(server, "webby")
    try:
        page = client.get(f"/incidents/{ref}")
        assert page.status_code == 200, page.text
        return page.text
    finally:
        client.close()


@pytest.fixture
def policy() -> Policy:
    return make_policy(datadog={"coalesce": "0s", "auth_retry": "1m"})


def test_429_waits_for_the_rate_limit_reset(
    server: Running, fake: DatadogServer, clock: FakeClock, db_url: str
) -> None:
    w = dd.worker(server, clock, db_url, fake)
    fake.rate_limit(reset=40)
    ref = dd.declare(server)
    w.drain()
    row = dd.mirror_row(server, ref)
    assert fake.incidents == {} and row.next_attempt_at is not None
    assert row.next_attempt_at - clock.now() >= timedelta(seconds=40)  # not the 1s backoff of the policy
    assert "429" in (row.last_error or "") and "Rate limit exceeded" in (row.last_error or "")
    clock.advance(39)
    w.drain()
    assert fake.incidents == {}
    clock.advance(2)
    w.drain()
    assert len(fake.incidents) == 1 and dd.mirror_row(server, ref).last_error is None


def test_5xx_backs_off_and_a_retried_create_looks_for_its_marker_first(
    server: Running, fake: DatadogServer, clock: FakeClock, db_url: str
) -> None:
    w = dd.worker(server, clock, db_url, fake)
    fake.fail_next(Fault.http(500, '{"errors": ["Internal Server Error"]}'))
    ref = dd.declare(server)
    w.drain()
    row = dd.mirror_row(server, ref)
    assert "HTTP 500" in (row.last_error or "") and row.create_attempts == 1 and fake.incidents == {}
    clock.advance(5)
    w.drain()
    searches = [c for c in fake.calls if "/incidents/search" in c.path]
    assert len(searches) == 1 and len(fake.incidents) == 1
    assert dd.datadog_ids(server, ref)[0] in fake.incidents


def test_a_create_that_timed_out_after_datadog_acted_is_adopted_not_duplicated(
    server: Running, fake: DatadogServer, clock: FakeClock, db_url: str
) -> None:
    w = dd.worker(server, clock, db_url, fake)
    fake.after_create(2.5)  # longer than the policy's 1s timeout: we never hear the answer
    ref = dd.declare(server)
    w.drain()
    assert len(fake.incidents) == 1 and dd.datadog_ids(server, ref) == (None, None)
    assert "Timeout" in (dd.mirror_row(server, ref).last_error or "")
    clock.advance(5)
    w.drain()
    assert len(fake.incidents) == 1 and len(fake.creates()) == 1  # found by its marker, not created again
    (dd_id,) = fake.incidents
    assert dd.datadog_ids(server, ref) == (dd_id, 1)
    assert dd.mirror_row(server, ref).state == "linked"


@pytest.mark.parametrize(
    ("body", "shown"),
    [
        (
            '{"errors": [{"status": "400", "title": "Bad Request", "detail": "invalid field severity"}]}',
            "Bad Request: invalid field severity",
        ),
        ('{"errors": ["Title is too long"]}', "Title is too long"),
    ],
)
def test_4xx_is_dead_with_datadogs_error_shown(
    server: Running, fake: DatadogServer, clock: FakeClock, db_url: str, body: str, shown: str
) -> None:
    w = dd.worker(server, clock, db_url, fake)
    server.state.settings = dd.settings(db_url, fake)
    fake.fail_next(Fault.http(400, body))
    ref = dd.declare(server)
    w.drain()
    row = dd.mirror_row(server, ref)
    assert row.state == "dead" and shown in (row.last_error or "")
    clock.advance(600)
    with server.admin() as c:
        c.patch(f"/api/v1/incidents/{ref}", json={"title": "changed"})
        w.drain()
        assert fake.incidents == {}  # dead: not retried by itself
        got = c.get(f"/api/v1/incidents/{ref}/datadog").json()
        assert got["state"] == "dead" and shown in got["last_error"]
        assert shown in c.get("/api/v1/datadog").json()["problems"][0]["error"]
        page = _room(server, ref)
        assert "datadog-error" in page and shown in page.replace("&#34;", '"')
        r = c.post(f"/api/v1/incidents/{ref}/datadog/retry")
        assert r.status_code == 200, r.text
    w.drain()
    assert len(fake.incidents) == 1 and dd.mirror_row(server, ref).state == "linked"


def test_refused_keys_pause_the_mirror_show_on_healthz_and_resume(
    server: Running, fake: DatadogServer, clock: FakeClock, db_url: str
) -> None:
    w = dd.worker(server, clock, db_url, fake)
    server.state.settings = dd.settings(db_url, fake)
    fake.refuse_keys()
    first, second = dd.declare(server), dd.declare(server, title="Second")
    w.drain()
    assert fake.incidents == {}
    assert len([c for c in fake.calls if c.method == "POST"]) <= 2  # those in flight together, then paused
    with server.admin() as c:
        health = c.get("/healthz").json()
        assert health["status"] == "degraded"
        assert (
            health["checks"]["datadog_mirror"]["paused"] and "Forbidden" in health["checks"]["datadog_mirror"]["paused"]
        )
        assert any("Datadog mirror is paused" in w for w in health["warnings"])
        assert "datadog-paused" in _room(server, first)
    assert dd.mirror_row(server, first).attempts == dd.mirror_row(server, second).attempts == 0  # not charged
    calls = len(fake.calls)
    clock.advance(30)
    w.drain()
    assert len(fake.calls) == calls  # paused: nothing sent before auth_retry
    fake.refuse_keys(False)
    clock.advance(31)
    w.drain()
    assert len(fake.incidents) == 2
    with server.admin() as c:
        assert c.get("/healthz").json()["checks"]["datadog_mirror"]["paused"] is None
    assert dd.mirror_row(server, second).state == "linked"


def test_new_keys_resume_at_once(server: Running, fake: DatadogServer, clock: FakeClock, db_url: str) -> None:
    wrong = dd.worker(server, clock, db_url, fake, app_key="revoked")
    dd.declare(server)
    wrong.drain()
    assert fake.incidents == {}
    fixed = dd.worker(server, clock, db_url, fake)
    fixed.drain()  # no waiting for auth_retry: these are not the keys Datadog refused
    assert len(fake.incidents) == 1


def test_a_datadog_incident_deleted_there_stops_its_mirror(
    server: Running, fake: DatadogServer, clock: FakeClock, db_url: str
) -> None:
    w = dd.worker(server, clock, db_url, fake)
    ref = dd.declare(server)
    w.drain()
    dd_id, _ = dd.datadog_ids(server, ref)
    del fake.incidents[str(dd_id)]
    with server.admin() as c:
        c.patch(f"/api/v1/incidents/{ref}", json={"title": "after the delete"})
        w.drain()
        row = dd.mirror_row(server, ref)
        assert row.state == "deleted" and "deleted in Datadog" in (row.last_error or "")
        calls = len(fake.calls)
        c.patch(f"/api/v1/incidents/{ref}", json={"title": "again"})
        w.drain()
        assert len(fake.calls) == calls  # no longer mirrored
        assert "deleted in Datadog" in _room(server, ref)
    assert fake.incidents == {}


def test_a_refused_todo_does_not_stop_the_mirror(
    server: Running, fake: DatadogServer, clock: FakeClock, db_url: str
) -> None:
    w = dd.worker(server, clock, db_url, fake)
    ref = dd.declare(server, pending_tasks=[{"title": "Page the IdP vendor"}])
    w.drain()
    dd_id, _ = dd.datadog_ids(server, ref)
    assert fake.todos == [(dd_id, "Page the IdP vendor")]
    with server.admin() as c:
        tasks = [{"title": "Page the IdP vendor"}, {"title": "Rotate keys"}]
        c.patch(f"/api/v1/incidents/{ref}", json={"pending_tasks": tasks, "title": "New title"})
    # the PATCH passes, the todo is refused (a 400 in Datadog's string shape)
    calls = len(fake.calls)
    fake.fail_next(Fault.late_answer(0))  # the PATCH: answered normally
    fake.fail_next(Fault.http(400, '{"errors": ["Todos are not enabled"]}'))
    w.drain()
    row = dd.mirror_row(server, ref)
    assert row.state == "linked" and row.synced_version == row.version
    assert fake.state_of(str(dd_id))["title"] == "New title"
    assert "Todos are not enabled" in (row.last_error or "") and len(fake.calls) > calls


def test_the_incident_room_and_api_show_the_datadog_link(
    server: Running, fake: DatadogServer, clock: FakeClock, db_url: str
) -> None:
    w = dd.worker(server, clock, db_url, fake)
    server.state.settings = dd.settings(db_url, fake, datadog_site="us3.datadoghq.com")
    ref = dd.declare(server)
    w.drain()
    page = _room(server, ref)
    assert 'id="datadog-link"' in page and "Datadog incident #1" in page
    assert 'href="https://us3.datadoghq.com/incidents/1"' in page  # the app's settings, as the API
    with server.admin() as c:
        got = c.get(f"/api/v1/incidents/{ref}/datadog").json()
    assert got["datadog_url"] == "https://us3.datadoghq.com/incidents/1"
    assert got["state"] == "linked" and got["in_sync"] and got["datadog_public_id"] == 1
