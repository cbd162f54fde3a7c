"""Incidents declared in Datadog come in through its notification webhook: created here and linked both
ways, updated by later notifications, our mirror's echoes and Datadog's re-deliveries ignored; both databases."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support import datadog as dd
from tests.support.alerts import ingest_token
from tests.support.datadog_fake import DatadogServer
from tests.support.notify import make_policy
from tests.support.server import Running
from warroom.core.clock import FakeClock
from warroom.policy import Policy

URL = "/api/v1/ingest/datadog-incident"


@pytest.fixture
def fake() -> Iterator[DatadogServer]:
    with DatadogServer() as server:
        yield server


@pytest.fixture
def policy() -> Policy:
    return make_policy(datadog={"coalesce": "0s"})


def notification(**kw: Any) -> dict[str, Any]:
    """The body of docs/datadog.md as Datadog fills it in."""
    body: dict[str, Any] = {
        "id": "7c2a6a3e-0c44-4c8e-a1a4-5d3cfb1e0b1f",
        "public_id": "412",
        "title": "Checkout sign-in errors",
        "severity": "SEV-2",
        "status": "active",
        "url": "https://app.datadoghq.com/incidents/412",
        "commander": {"name": "Ada", "email": "ada@example.org", "handle": "ada@example.org"},
        "fields": {"severity": "SEV-2", "state": "active", "services": ["sis"], "teams": ["identity"]},
        "customer_impact": {"customer_impacted": True, "customer_impact_scope": "checkout"},
        "message": "Declared from a monitor",
    }
    body.update(kw)
    return body


def send(server: Running, token: str, body: dict[str, Any]) -> Any:
    with server.client(token) as c:
        return c.post(URL, content=json.dumps(body), headers={"content-type": "application/json"})


def test_a_datadog_incident_becomes_ours_linked_both_ways_and_duplicates_are_ignored(
    server: Running, fake: DatadogServer, clock: FakeClock, db_url: str, make_user: Any
) -> None:
    make_user("ada")
    dd.set_email(server, "ada", "Ada@Example.org")
    token = ingest_token(server, "datadog-incident")
    r = send(server, token, notification())
    assert r.status_code == 200, r.text
    assert r.json()["outcome"] == "created"
    ref = r.json()["incident"]
    inc = dd.incident(server, ref)
    assert inc["title"] == "Checkout sign-in errors" and inc["services"] == ["sis"]
    assert inc["priority"] == "P2" and inc["severity"] == "SEV-2" and inc["commander"] == "ada"
    assert inc["datadog_id"] == notification()["id"] and inc["datadog_public_id"] == 412
    # the very same notification again (Datadog retries): a duplicate, nothing new
    again = send(server, token, notification())
    assert again.status_code == 200 and again.json()["outcome"] == "duplicate"
    with server.admin() as c:
        assert c.get("/api/v1/incidents").json()["total"] == 1
    # the mirror creates nothing in Datadog for it: it is theirs already
    w = dd.worker(server, clock, db_url, fake)
    w.drain()
    assert fake.creates() == []


def test_later_datadog_changes_update_ours_and_are_not_sent_back(
    server: Running, fake: DatadogServer, clock: FakeClock, db_url: str
) -> None:
    token = ingest_token(server, "datadog-incident")
    ref = send(server, token, notification()).json()["incident"]
    w = dd.worker(server, clock, db_url, fake)
    w.drain()
    r = send(server, token, notification(title="Checkout sign-in down", severity="SEV-1", status="stable"))
    assert r.json()["outcome"] == "updated", r.text
    inc = dd.incident(server, ref)
    assert inc["title"] == "Checkout sign-in down" and inc["severity"] == "SEV-1" and inc["state"] == "stable"
    w.drain()
    assert fake.calls == []  # no ping-pong: what Datadog told us is not PATCHed back


def test_our_mirrors_echo_is_recognised_and_ignored(
    server: Running, fake: DatadogServer, clock: FakeClock, db_url: str
) -> None:
    token = ingest_token(server, "datadog-incident")
    w = dd.worker(server, clock, db_url, fake)
    ref = dd.declare(server)  # ours, mirrored out
    w.drain()
    dd_id, public_id = dd.datadog_ids(server, ref)
    with server.admin() as c:
        assert c.patch(f"/api/v1/incidents/{ref}", json={"title": "Second title"}).status_code == 200
        w.drain()
        assert c.patch(f"/api/v1/incidents/{ref}", json={"title": "Third title"}).status_code == 200
        w.drain()
    patches = len(fake.patches())
    # Datadog notifies each change, ours too; a late echo of an older state must not roll ours back
    for title in ("Sign-in failing", "Second title", "Third title"):
        body = notification(id=dd_id, public_id=str(public_id), title=title, severity="SEV-2", status="active")
        r = send(server, token, body)
        assert r.status_code == 200 and r.json()["outcome"] == "echo", r.text
    assert dd.incident(server, ref)["title"] == "Third title"
    w.drain()
    assert len(fake.patches()) == patches
    with server.admin() as c:
        assert c.get("/api/v1/incidents").json()["total"] == 1
    # a person changing it in Datadog is heard
    r = send(server, token, notification(id=dd_id, public_id=str(public_id), title="Renamed in Datadog"))
    assert r.json()["outcome"] == "updated"
    assert dd.incident(server, ref)["title"] == "Renamed in Datadog"


def test_a_notification_of_our_create_in_flight_is_deferred_not_taken_as_new(
    server: Running, fake: DatadogServer, clock: FakeClock, db_url: str
) -> None:
    token = ingest_token(server, "datadog-incident")
    fake.after_create(2.5)  # the create reaches Datadog, we time out (policy timeout 1s)
    w = dd.worker(server, clock, db_url, fake)
    ref = dd.declare(server)
    w.drain()
    (dd_id,) = fake.incidents
    r = send(server, token, notification(id=dd_id, public_id="1", title="Sign-in failing"))
    assert r.status_code == 503 and r.headers["retry-after"]  # Datadog re-delivers a 5xx
    clock.advance(5)
    w.drain()
    r = send(server, token, notification(id=dd_id, public_id="1", title="Sign-in failing", severity="SEV-2"))
    assert r.json() == {"outcome": "echo", "incident": ref, "detail": r.json()["detail"]}
    with server.admin() as c:
        assert c.get("/api/v1/incidents").json()["total"] == 1


def test_tokens_and_bodies_are_checked(server: Running) -> None:
    assert send(server, "nope", notification()).status_code == 401
    other = ingest_token(server, "alertmanager")
    assert send(server, other, notification()).status_code == 403
    token = ingest_token(server, "datadog-incident")
    r = send(server, token, {"title": "no id"})
    assert r.status_code == 422 and "INCIDENT_UUID" in r.text
    r = send(server, token, notification(fields={"services": ["nothing-of-ours"]}))
    assert r.status_code == 422 and "inbound_service" in r.text
    big = notification(fields={"summary": "x" * (server.state.settings.max_body_bytes + 1)})
    r = send(server, token, big)  # refused by the app's body limit, before the route reads it
    assert r.status_code == 413 and r.json()["error"]["code"] == "payload_too_large", r.text


def test_a_datadog_incident_naming_none_of_our_services_takes_the_policys_inbound_service(
    server: Running, fake: DatadogServer
) -> None:
    server.state.policy = make_policy(datadog={"inbound_service": "sis"})
    token = ingest_token(server, "datadog-incident")
    body = notification(fields={"services": ["billing"]}, severity="SEV-4", commander=None)
    r = send(server, token, body)
    assert r.status_code == 200, r.text
    inc = dd.incident(server, r.json()["incident"])
    assert inc["services"] == ["sis"] and inc["priority"] == "P4" and inc["severity"] == "SEV-4"
    assert inc["declared_automatically"]  # no person to command it: as an automatic declaration
    with pytest.raises(ValueError, match="inbound_service"):
        make_policy(datadog={"inbound_service": "nope"})
