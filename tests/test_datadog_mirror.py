"""The outbound mirror end to end: our API, a real worker, a local Datadog that checks shapes, both databases."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from tests.support import datadog as dd
from tests.support.datadog_fake import API_KEY, APP_KEY, DatadogServer
from tests.support.notify import make_policy
from tests.support.server import Running
from warroom.core.clock import FakeClock
from warroom.policy import Policy


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
