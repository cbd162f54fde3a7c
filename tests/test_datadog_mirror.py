"""The outbound mirror end to end: our API, a real worker, a local Datadog that checks shapes, both databases."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from sqlalchemy.engine import Engine

from tests.support import datadog as dd
from tests.support.datadog_fake import API_KEY, APP_KEY, DatadogServer
from tests.support.notify import make_policy
from tests.support.server import Running
from tests.support.wired import HOOKS, JOBS
from warroom.core.clock import FakeClock
from warroom.datadog.models import DatadogMirror
from warroom.policy import Policy
from warroom.worker import Worker


@pytest.fixture
def fake() -> Iterator[DatadogServer]:
    with DatadogServer() as server:
        yield server


@pytest.fixture
def policy() -> Policy:
    return make_policy(datadog={"coalesce": "0s"})


def test_declaring_a_p1_creates_the_datadog_incident_with_marker_commander_and_link(
    server: Running, fake: DatadogServer, clock: FakeClock, db_url: str
) -> None:
    fake.users["boss@example.org"] = "dd-user-1"
    dd.set_email(server, "admin", "Boss@example.org")
    w = dd.worker(server, clock, db_url, fake)
    ref = dd.declare(server, users_impacted=1500, impacts="Nobody can sign in")
    w.drain()

    creates = fake.creates()
    assert len(creates) == 1
    call = creates[0]
    assert call.headers["dd-api-key"] == API_KEY and call.headers["dd-application-key"] == APP_KEY
    body = call.data["data"]
    assert body["type"] == "incidents"
    attrs = body["attributes"]
    assert attrs["title"] == "Sign-in failing" and attrs["customer_impacted"] is True
    assert attrs["customer_impact_scope"] == "Nobody can sign in"
    assert attrs["fields"]["severity"] == {"type": "dropdown", "value": "SEV-2"}
    assert attrs["fields"]["state"] == {"type": "dropdown", "value": "active"}
    cell = attrs["initial_cells"][0]["content"]["content"]
    assert f"/incidents/{ref}" in cell
    marker = dd.mirror_row(server, ref).marker
    assert marker and f"<!-- {marker} -->" in cell
    assert body["relationships"]["commander_user"]["data"] == {"type": "users", "id": "dd-user-1"}

    shown = dd.incident(server, ref)
    (dd_id, public_id) = dd.datadog_ids(server, ref)
    assert shown["datadog_id"] == dd_id and shown["datadog_public_id"] == public_id == 1
    # create cannot set the detected time: the latest full state follows as a PATCH
    patch = fake.patches(dd_id)[-1]["data"]
    assert patch["id"] == dd_id and patch["attributes"]["detected"]
    # the commander's user was looked up once and cached
    assert len([c for c in fake.calls if urlsplit(c.path).path == "/api/v2/users"]) == 1
    row = dd.mirror_row(server, ref)
    assert row.state == "linked" and row.synced_version == row.version and row.last_error is None


def test_only_the_policys_priorities_are_mirrored_until_raised(
    server: Running, fake: DatadogServer, clock: FakeClock, db_url: str
) -> None:
    w = dd.worker(server, clock, db_url, fake)
    ref = dd.declare(server, priority="P3")
    w.drain()
    assert fake.creates() == []
    with server.admin() as c:
        assert c.patch(f"/api/v1/incidents/{ref}", json={"priority": "P2"}).status_code == 200
    w.drain()
    assert len(fake.creates()) == 1


def test_the_mirror_is_off_without_keys(server: Running, fake: DatadogServer, clock: FakeClock, db_url: str) -> None:
    w = dd.worker(server, clock, db_url, fake, api_key=None)
    dd.declare(server)
    w.drain()
    assert fake.calls == []


def _titles(fake: DatadogServer, dd_id: str | None) -> list[str]:
    return [p["data"]["attributes"]["title"] for p in fake.patches(dd_id)]


def test_a_burst_of_changes_is_one_patch_of_the_latest_state(
    server: Running, fake: DatadogServer, clock: FakeClock, db_url: str
) -> None:
    w = dd.worker(server, clock, db_url, fake)
    ref = dd.declare(server)
    w.drain()
    dd_id, _ = dd.datadog_ids(server, ref)
    before = len(fake.patches(dd_id))
    with server.admin() as c:
        for i in range(8):
            assert c.patch(f"/api/v1/incidents/{ref}", json={"title": f"Sign-in failing {i}"}).status_code == 200
        assert c.patch(f"/api/v1/incidents/{ref}", json={"severity": "SEV-1"}).status_code == 200
    w.drain()
    patches = fake.patches(dd_id)[before:]
    assert len(patches) == 1
    attrs = patches[0]["data"]["attributes"]
    assert attrs["title"] == "Sign-in failing 7" and attrs["fields"]["severity"]["value"] == "SEV-1"
    assert fake.state_of(str(dd_id))["title"] == "Sign-in failing 7"


def test_the_coalescing_window_comes_from_the_policy(
    server: Running, fake: DatadogServer, clock: FakeClock, db_url: str
) -> None:
    server.state.policy = make_policy(datadog={"coalesce": "5s"})
    w = dd.worker(server, clock, db_url, fake)
    ref = dd.declare(server)
    w.drain()
    assert fake.creates() == []  # within the window: nothing yet
    clock.advance(5)
    w.drain()
    assert len(fake.creates()) == 1
    dd_id, _ = dd.datadog_ids(server, ref)
    before = len(fake.patches(dd_id))
    with server.admin() as c:
        c.patch(f"/api/v1/incidents/{ref}", json={"title": "first"})
        w.drain()
        clock.advance(3)
        c.patch(f"/api/v1/incidents/{ref}", json={"title": "second"})
        w.drain()
    assert len(fake.patches(dd_id)) == before
    clock.advance(2)
    w.drain()
    assert _titles(fake, dd_id)[before:] == ["second"]


def test_changes_during_a_send_follow_in_order_and_end_current(
    server: Running, fake: DatadogServer, clock: FakeClock, db_url: str
) -> None:
    import threading

    w1 = dd.worker(server, clock, db_url, fake, worker_id="w1")
    w2 = dd.worker(server, clock, db_url, fake, worker_id="w2")
    ref = dd.declare(server)
    w1.drain()
    dd_id, _ = dd.datadog_ids(server, ref)
    stop = threading.Event()

    def work(w: object) -> None:
        while not stop.is_set():
            w.run_once()  # type: ignore[attr-defined]

    threads = [threading.Thread(target=work, args=(w,)) for w in (w1, w2)]
    for t in threads:
        t.start()
    try:
        with server.admin() as c:
            for i in range(12):
                assert c.patch(f"/api/v1/incidents/{ref}", json={"title": f"t{i:02d}"}).status_code == 200
        assert fake.wait_for(lambda calls: any(b'"t11"' in x.body for x in calls), timeout=15)
    finally:
        stop.set()
        for t in threads:
            t.join()
    titles = [t for t in _titles(fake, dd_id) if t.startswith("t")]
    assert titles == sorted(titles), titles  # never an older state after a newer one
    assert titles[-1] == "t11" and fake.state_of(str(dd_id))["title"] == "t11"
    assert len(fake.creates()) == 1


def test_resolving_sends_the_state_times_postmortem_link_and_tasks_as_todos(
    server: Running, fake: DatadogServer, clock: FakeClock, db_url: str
) -> None:
    w = dd.worker(server, clock, db_url, fake)
    ref = dd.declare(server, users_impacted=200)
    w.drain()
    dd_id, _ = dd.datadog_ids(server, ref)
    with server.admin() as c:
        tasks = [{"title": "Rotate the IdP certificate"}, {"title": "Done already", "done": True}]
        assert c.patch(f"/api/v1/incidents/{ref}", json={"pending_tasks": tasks}).status_code == 200
        w.drain()
        clock.advance(600)
        assert c.post(f"/api/v1/incidents/{ref}/transitions", json={"to": "resolved"}).status_code == 200
    w.drain()
    attrs = fake.patches(dd_id)[-1]["data"]["attributes"]
    assert attrs["fields"]["state"]["value"] == "resolved"
    assert attrs["resolved"] and attrs["customer_impact_end"] == attrs["resolved"]
    assert fake.todos == [(dd_id, "Rotate the IdP certificate")]
    assert len(fake.attachments) == 1
    got = fake.attachments[0][1]
    assert got["attachment_type"] == "postmortem"
    assert got["attachment"]["documentUrl"].endswith(f"/incidents/{ref}/postmortem")


def test_an_incident_declared_by_the_ingest_writer_process_is_mirrored_too(
    engine: Engine, fake: DatadogServer, db_url: str, policy: Policy
) -> None:
    """The writer process gets the hooks pickled, not the wiring: the mirror's tracking comes with them."""
    import json

    from tests.support.alerts import FIXTURES
    from tests.support.server import ThreadedServer, http_client
    from warroom.app import create_app
    from warroom.core.clock import SystemClock
    from warroom.core.db import session_factory
    from warroom.core.settings import Settings
    from warroom.incidents.models import Incident
    from warroom.users import service as users

    with session_factory(engine).begin() as s:
        _, token = users.create_token(s, now=SystemClock().now(), user=None, kind="ingest", name="events")
    app = create_app(Settings(database_url=db_url), policy=policy, engine=engine, ingest_process=True)
    server = ThreadedServer(app).start()
    try:
        assert app.fastpath.process is not None
        with http_client() as c:
            r = c.post(
                f"{server.url}/api/v1/ingest/events",
                content=(FIXTURES / "events_trigger.json").read_bytes(),
                headers={"Authorization": f"Bearer {token}", "content-type": "application/json"},
            )
            assert r.status_code == 202, r.text
        with session_factory(engine)() as s:
            (inc,) = s.query(Incident).all()
            assert inc.priority == "P1" and inc.declared_automatically
            assert s.get(DatadogMirror, inc.id) is not None  # marked in the writer's own transaction
        w = Worker(
            session_factory(engine),
            settings=dd.settings(db_url, fake),
            policy=policy,
            clock=SystemClock(),
            worker_id="dd-writer-test",
            jobs=JOBS,
            hooks=HOOKS,
        )
        w.drain()
        got = fake.wait_for(lambda calls: any(c.method == "POST" and c.ok for c in calls), timeout=10)
        with session_factory(engine)() as s:
            row = s.get(DatadogMirror, inc.id)
            assert got, (fake.calls, row and (row.state, row.version, row.synced_version, row.last_error))
        assert len(fake.creates()) == 1
        assert json.loads(fake.creates()[0].body)["data"]["attributes"]["title"] == inc.title
    finally:
        server.stop()
