"""The Slack card shows the Datadog incident its incident is mirrored to, once the mirror linked it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support import datadog as dd
from tests.support.datadog_fake import DatadogServer
from tests.support.http_fakes import SlackApiServer
from tests.support.notify import SLACK_TOKEN, make_policy, slack_channels
from tests.support.server import Running
from tests.support.wired import HOOKS, JOBS
from warroom.core.clock import FakeClock
from warroom.policy import Policy
from warroom.worker import Worker


@pytest.fixture
def fake() -> Iterator[DatadogServer]:
    with DatadogServer() as server:
        yield server


@pytest.fixture
def slack() -> Iterator[SlackApiServer]:
    with SlackApiServer() as server:
        yield server


@pytest.fixture
def policy() -> Policy:
    return make_policy(channels=slack_channels(), datadog={"coalesce": "0s"})


def _card_fields(blocks: list[dict[str, object]]) -> dict[str, str]:
    out = {}
    for block in blocks:
        for f in block.get("fields", []):  # type: ignore[attr-defined]
            label, _, value = f["text"].partition("\n")
            out[label.strip("*")] = value
    return out


def test_the_card_shows_the_datadog_incident_once_linked(
    server: Running, fake: DatadogServer, slack: SlackApiServer, clock: FakeClock, db_url: str
) -> None:
    settings = dd.settings(db_url, fake, slack_token=SLACK_TOKEN, slack_api_url=slack.url)
    w = Worker(
        server.state.sessions,
        settings=settings,
        policy=server.state.policy,
        clock=clock,
        worker_id="t",
        jobs=JOBS,
        hooks=HOOKS,
    )
    ref = dd.declare(server)
    for _ in range(3):  # the declaration, the Datadog create, then the card edit it queued
        w.drain()
    [root] = slack.posts("#support")
    assert "Datadog" not in _card_fields(root["blocks"])  # posted before Datadog answered
    _, public_id = dd.datadog_ids(server, ref)
    edits = slack.updates()
    assert edits and _card_fields(edits[-1]["blocks"])["Datadog"] == f"incident #{public_id}"
