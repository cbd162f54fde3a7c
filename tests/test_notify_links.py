"""WARROOM_BASE_URL sets the links in notifications and wins over the policy's base_url (issue 18 item 9)."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.engine import Engine

from tests.conftest import T0, start_server
from tests.support import cli
from tests.support.http_fakes import SlackApiServer
from tests.support.notify import make_policy, settings_for, slack_channels
from tests.support.wired import HOOKS, JOBS
from warroom.core.clock import FakeClock
from warroom.notifications.models import Notification
from warroom.worker import Worker

PUBLIC = "https://warroom.example.com"


def test_environment_base_url_wins_in_api_worker_and_cli(engine: Engine, db_url: str, clock: FakeClock) -> None:
    policy = make_policy(channels=slack_channels(), notifications={"base_url": "http://policy.invalid:8000"})
    running = start_server(engine, db_url, policy, clock, base_url=PUBLIC)
    try:
        with SlackApiServer() as slack:
            settings = settings_for(db_url, slack).model_copy(update={"base_url": PUBLIC})
            w = Worker(running.state.sessions, settings=settings, policy=policy, clock=clock, jobs=JOBS, hooks=HOOKS)
            with running.admin() as c:
                r = c.post("/api/v1/incidents", json={"services": ["sis"], "priority": "P1", "severity": "SEV-2"})
                assert r.status_code == 201, r.text
            w.drain()
            clock.set(T0 + timedelta(minutes=25))  # the worker's reminder links too
            w.drain()
            declared, reminder = slack.posts("#support")
            assert f"{PUBLIC}/incidents/INC-1" in declared["text"]
            assert f"<{PUBLIC}/incidents/INC-1|open in warroom>" in json.dumps(declared["blocks"])  # the card's Link
            assert f"{PUBLIC}/incidents/INC-1" in reminder["text"]
            assert all("policy.invalid" not in str(p) for p in slack.posts())
        cli.ok(
            "incident", "declare", "-s", "sis", "-p", "P2", "--severity", "SEV-3", "--as", "admin",
            env={"WARROOM_DATABASE_URL": db_url, "WARROOM_BASE_URL": "https://cli.example.com"},
        )  # fmt: skip
        with running.state.sessions() as s:
            row = s.scalars(select(Notification).where(Notification.incident_id == 2)).first()
            assert row is not None and row.payload["link"] == "https://cli.example.com/incidents/INC-2"
            assert "https://cli.example.com/incidents/INC-2" in row.text
    finally:
        running.server.stop()
