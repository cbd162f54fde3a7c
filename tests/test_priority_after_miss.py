"""With auto_update off, a priority change after a missed update must not re-fire that same miss
(found by bench/cluster.py: set_priority recomputed the due time from the last update)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from tests.conftest import T0
from tests.support.http_fakes import SlackApiServer
from tests.support.notify import make_policy, slack_channels, worker
from tests.support.server import Running
from warroom.core.clock import FakeClock
from warroom.incidents.models import Incident


def test_priority_change_does_not_refire_a_counted_miss(server: Running, clock: FakeClock, db_url: str) -> None:
    with SlackApiServer() as slack:
        off = make_policy(channels=slack_channels(), cadence={"auto_update": False})
        w = worker(server.state.sessions, off, clock, db_url, slack=slack)
        with server.admin() as c:
            ref = c.post("/api/v1/incidents", json={"services": ["sis"], "priority": "P2", "severity": "SEV-2"}).json()[
                "id"
            ]
        clock.set(T0 + timedelta(minutes=30))
        w.drain()  # the 09:30 update is missed once; next due 10:00
        with server.state.sessions() as s:
            assert s.scalar(select(Incident.missed_updates)) == 1
        clock.set(T0 + timedelta(minutes=31))
        with server.admin() as c:  # every priority has a 30m cadence in the reference policy
            assert c.patch(f"/api/v1/incidents/{ref}", json={"priority": "P1"}).status_code == 200
            due = c.get(f"/api/v1/incidents/{ref}").json()["next_update_due_at"]
        w.drain()
        with server.state.sessions() as s:
            missed = s.scalar(select(Incident.missed_updates))
        pings = [p["text"] for p in slack.posts() if "was due at" in p["text"]]
        assert (due, missed, len(pings)) == ("2026-10-05T10:00:00Z", 1, 1), (due, missed, pings)
