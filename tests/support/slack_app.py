"""A warroom `serve` wired to a fake Slack both ways (signed requests in, Web API out)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Engine

from tests.conftest import start_server
from tests.support.http_fakes import SlackApiServer
from tests.support.notify import SLACK_TOKEN
from tests.support.server import Running
from tests.support.slack_fake import SIGNING_SECRET, FakeSlack
from warroom.core.clock import FakeClock
from warroom.policy import Policy


@dataclass
class SlackRig:
    server: Running
    api: SlackApiServer
    slack: FakeSlack

    def user(self, handle: str, slack_id: str, role: str = "responder") -> None:
        with self.server.admin() as c:
            r = c.post("/api/v1/users", json={"handle": handle, "role": role, "slack_id": slack_id})
            assert r.status_code == 201, r.text


@contextmanager
def slack_rig(
    engine: Engine, db_url: str, policy: Policy, clock: FakeClock | None, *, run_worker: bool = False
) -> Iterator[SlackRig]:
    with SlackApiServer(token=SLACK_TOKEN) as api:
        running = start_server(
            engine,
            db_url,
            policy,
            clock,
            run_worker=run_worker,
            slack_signing_secret=SIGNING_SECRET,
            slack_token=SLACK_TOKEN,
            slack_api_url=api.url,
        )
        now = (lambda: clock.now().timestamp()) if clock else None
        import time

        fake = FakeSlack(url=f"{running.url}/slack/events", api=api, now=now or time.time)
        try:
            yield SlackRig(server=running, api=api, slack=fake)
        finally:
            fake.client.close()
            running.server.stop()


def card_fields(blocks: list[dict[str, Any]]) -> dict[str, str]:
    """A Slack card's fields by label (`*State*\nactive` -> {"State": "active"})."""
    out = {}
    for block in blocks:
        for f in block.get("fields", []):
            label, _, value = f["text"].partition("\n")
            out[label.strip("*")] = value
    return out
