"""Slack's rate limits are per method and workspace: a 429 with Retry-After on one method (chat.update)
rests that method for every message and every worker until it passes, while other methods go on."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine

from tests.support.http_fakes import Fault
from tests.support.notify import make_policy, slack_channels, worker
from tests.support.slack_app import SlackRig, slack_rig
from warroom.core.clock import FakeClock
from warroom.notifications.models import Notification
from warroom.policy import Policy
from warroom.worker import Worker


@pytest.fixture
def policy() -> Policy:
    return make_policy(channels=slack_channels())


@pytest.fixture
def rig(engine: Engine, db_url: str, policy: Policy, clock: FakeClock) -> Iterator[SlackRig]:
    with slack_rig(engine, db_url, policy, clock) as r:
        r.user("alice", "UALICE")
        yield r


@pytest.fixture
def w(rig: SlackRig, policy: Policy, clock: FakeClock, db_url: str) -> Worker:
    return worker(rig.server.state.sessions, policy, clock, db_url, slack=rig.api)


def _declare(rig: SlackRig, w: Worker, title: str) -> tuple[str, str]:
    """(incident id, ts of its card in #support)."""
    with rig.server.admin() as c:
        body = {"services": ["sis"], "priority": "P2", "severity": "SEV-3", "commander": "alice", "title": title}
        r = c.post("/api/v1/incidents", json=body)
        assert r.status_code == 201, r.text
    w.drain()
    [root] = [p for p in rig.api.posts("#support") if title in p["text"] and "thread_ts" not in p]
    return str(r.json()["id"]), str(root["ts"])


def _edit(rig: SlackRig, ref: str, severity: str) -> None:
    with rig.server.admin() as c:
        assert c.patch(f"/api/v1/incidents/{ref}", json={"severity": severity}).status_code == 200


def _edits(rig: SlackRig) -> dict[str, list[dict[str, Any]]]:
    by_ts: dict[str, list[dict[str, Any]]] = {}
    for update in rig.api.updates():
        by_ts.setdefault(update["ts"], []).append(update)
    return by_ts


def _pending_cards(rig: SlackRig) -> list[Notification]:
    with rig.server.state.sessions() as s:
        return list(
            s.scalars(
                select(Notification)
                .where(Notification.event == "card", Notification.state == "pending")
                .order_by(Notification.id)
            )
        )


def _rate_limited_first_edit(rig: SlackRig, w: Worker) -> tuple[str, str, str, str]:
    """Incidents A and B declared; A's card edit answered 429 Retry-After 30; B's edit queued after."""
    a, a_ts = _declare(rig, w, "first outage")
    b, b_ts = _declare(rig, w, "second outage")
    rig.api.fail_path("chat.update", Fault.rate_limited(retry_after=30))
    _edit(rig, a, "SEV-1")
    w.drain()
    assert [c.fault is not None for c in rig.api.calls_to("chat.update")] == [True]
    _edit(rig, b, "SEV-2")
    return a_ts, b_ts, a, b


def _only_the_429(rig: SlackRig) -> None:
    calls = rig.api.calls_to("chat.update")
    assert len(calls) == 1 and calls[0].fault is not None, "chat.update was called during its Retry-After"


def test_a_429_on_chat_update_rests_it_for_every_card_while_posts_go_on(
    rig: SlackRig, w: Worker, clock: FakeClock
) -> None:
    a_ts, b_ts, _, _ = _rate_limited_first_edit(rig, w)
    w.drain()
    _only_the_429(rig)
    [a_row, b_row] = _pending_cards(rig)
    assert a_row.attempts == 1 and "rate_limited" in (a_row.last_error or "")
    assert b_row.attempts == 0, "a rest is not a failed attempt"
    assert b_row.next_attempt_at == clock.now() + timedelta(seconds=30)
    # another method is not resting: a third incident's card is posted (chat.postMessage)
    _declare(rig, w, "third outage")
    clock.advance(timedelta(seconds=20))
    w.drain()
    _only_the_429(rig)
    with httpx.Client() as c:
        scrape = c.get(f"{rig.server.url}/metrics").text
    assert 'warroom_slack_method_paused_seconds{method="chat.update"} 10.0' in scrape
    assert 'warroom_slack_rate_limited_total{method="chat.update"} 1.0' in scrape
    clock.advance(timedelta(seconds=10))
    w.drain()
    edits = _edits(rig)
    assert sorted(edits) == sorted([a_ts, b_ts]) and [len(e) for e in edits.values()] == [1, 1]
    assert not _pending_cards(rig)
    with httpx.Client() as c:
        scrape = c.get(f"{rig.server.url}/metrics").text
    assert 'warroom_slack_method_paused_seconds{method="chat.update"} 0.0' in scrape


def test_another_worker_honours_the_rest(
    rig: SlackRig, w: Worker, clock: FakeClock, policy: Policy, db_url: str
) -> None:
    a_ts, b_ts, _, _ = _rate_limited_first_edit(rig, w)
    other = worker(rig.server.state.sessions, policy, clock, db_url, slack=rig.api, worker_id="other-worker")
    clock.advance(timedelta(seconds=5))  # past A's own backoff base: only the method's rest holds B back
    other.drain()
    _only_the_429(rig)
    [_, b_row] = _pending_cards(rig)
    assert b_row.attempts == 0 and b_row.next_attempt_at == clock.now() + timedelta(seconds=25)
    clock.advance(timedelta(seconds=25))
    other.drain()
    w.drain()
    edits = _edits(rig)
    assert sorted(edits) == sorted([a_ts, b_ts]) and [len(e) for e in edits.values()] == [1, 1]


def test_the_rest_is_retry_after_or_the_backoff_base_and_never_beyond_retry_for(policy: Policy) -> None:
    from warroom.notifications.rules import method_pause

    cfg = policy.notifications
    assert method_pause(30, cfg) == timedelta(seconds=30)
    assert method_pause(None, cfg) == cfg.backoff_base
    assert method_pause(10**9, cfg) == cfg.retry_for
