"""The postmortem leaves reminders out of its timeline and keeps a multi-line update in one list item
(issue 18 item 11), both databases."""

from __future__ import annotations

from datetime import timedelta

from markdown_it import MarkdownIt

from tests.conftest import T0
from tests.support.notify import worker
from tests.support.server import Running
from warroom.core.clock import FakeClock


def test_postmortem_leaves_reminders_out_and_keeps_multiline_updates_together(
    server: Running, clock: FakeClock, db_url: str
) -> None:
    w = worker(server.state.sessions, server.state.policy, clock, db_url, slack=None)
    message = "Rolled back 1.2.3\nErrors falling\n\n- checked login.gov\n- checked id.me"
    with server.admin() as c:
        ref = c.post("/api/v1/incidents", json={"services": ["sis"], "priority": "P1", "severity": "SEV-1"}).json()[
            "id"
        ]
        clock.set(T0 + timedelta(minutes=26))
        w.drain()  # the reminder went out
        tl = c.get(f"/api/v1/incidents/{ref}/timeline").json()["items"]
        assert any(e["kind"] == "reminder" for e in tl)
        assert c.post(f"/api/v1/incidents/{ref}/updates", json={"message": message}).status_code == 201
        assert c.post(f"/api/v1/incidents/{ref}/timeline", json={"text": "bridge opened\nby bob"}).status_code == 201
        assert c.post(f"/api/v1/incidents/{ref}/transitions", json={"to": "resolved"}).status_code == 200
        pm = c.get(f"/api/v1/incidents/{ref}/postmortem").json()["markdown"]
    assert "Reminded" not in pm
    updates = pm.split("## Status updates", 1)[1].split("\n## ", 1)[0]
    tokens = MarkdownIt("commonmark").parse(updates)
    top_items = [t for t in tokens if t.type == "list_item_open" and t.level == 1]
    assert len(top_items) == 1, updates  # one update, one item: its lines and its own list stay inside
    assert "  Errors falling\n\n  - checked login.gov\n  - checked id.me" in updates
    timeline = pm.split("## Timeline", 1)[1].split("\n## ", 1)[0]
    assert "bridge opened\n  by bob" in timeline
