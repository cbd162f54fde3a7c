"""Never twice: Slack's retries, double clicks (even at the same moment) and double submits run
once; the ack commits rows, so a worker killed between the ack and the work loses nothing."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from sqlalchemy.engine import Engine

from tests.support import cli
from tests.support.http_fakes import Fault, SlackApiServer
from tests.support.notify import SLACK_TOKEN, make_policy, policy_raw, slack_channels, worker
from tests.support.procs import ApiProc, env_for, worker_proc
from tests.support.slack_app import SlackRig, slack_rig
from tests.support.slack_fake import SIGNING_SECRET, FakeSlack
from warroom.core.clock import FakeClock
from warroom.policy import Policy


@pytest.fixture
def policy() -> Policy:
    return make_policy(channels=slack_channels())


@pytest.fixture
def rig(engine: Engine, db_url: str, policy: Policy, clock: FakeClock) -> Iterator[SlackRig]:
    with slack_rig(engine, db_url, policy, clock) as r:
        r.user("alice", "UALICE")
        yield r


def _declare(rig: SlackRig) -> str:
    with rig.server.admin() as c:
        body = {"services": ["sis"], "priority": "P2", "severity": "SEV-3", "commander": "alice"}
        r = c.post("/api/v1/incidents", json=body)
        assert r.status_code == 201, r.text
        return str(r.json()["id"])


def _timeline(rig: SlackRig, ref: str) -> list[dict[str, Any]]:
    with rig.server.admin() as c:
        items: list[dict[str, Any]] = c.get(f"/api/v1/incidents/{ref}/timeline").json()["items"]
        return items


def test_a_double_click_moves_once_and_says_nothing_the_second_time(rig: SlackRig) -> None:
    ref = _declare(rig)
    first = rig.slack.click("UALICE", "card_stable", ref, action_ts="1700000100.000001")
    second = rig.slack.click("UALICE", "card_stable", ref, action_ts="1700000100.000001")
    assert first.status_code == second.status_code == 200
    moves = [e for e in _timeline(rig, ref) if e["kind"] == "state_changed"]
    assert len(moves) == 1

    def answers(n: int) -> Any:
        return lambda calls: len([c for c in calls if c.path.startswith("/response/")]) >= n

    assert rig.slack.api.wait_for(answers(1))  # the first click's answer is posted after the ack
    assert not rig.slack.api.wait_for(answers(2), timeout=0.3)  # and no second one follows
    texts = [b.get("text", "") for b in rig.slack.responses()]
    assert texts == [f"{ref} is now stable."], texts  # no "cannot move from stable to stable"


def test_simultaneous_double_clicks_and_retries_run_once(rig: SlackRig) -> None:
    ref = _declare(rig)
    barrier = threading.Barrier(4)
    answers: list[int] = []

    def click(retry: int | None) -> None:
        barrier.wait()
        r = rig.slack.click("UALICE", "card_resolve", ref, action_ts="1700000200.000002", retry=retry)
        answers.append(r.status_code)

    threads = [threading.Thread(target=click, args=(n or None,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert answers == [200] * 4
    assert [e["data"]["to"] for e in _timeline(rig, ref) if e["kind"] == "state_changed"] == ["resolved"]
    with rig.server.state.sessions() as s:
        from sqlalchemy import func, select

        from warroom.notifications.models import Notification

        resolved = s.scalar(select(func.count()).where(Notification.event == "resolved"))
    assert resolved == 1  # one notification per channel routed (support), never two


def test_events_api_deliveries_are_acked_and_ignored(rig: SlackRig) -> None:
    """No event is subscribed to: each delivery (and Slack's retries of it) is acked, nothing else."""
    body = (
        b'{"type":"event_callback","event_id":"Ev0001","team_id":"T0","event":{"type":"app_mention","user":"UALICE"}}'
    )

    def ignored() -> float:  # the process's counter: other tests in this process count too
        with httpx.Client() as c:
            scrape = c.get(f"{rig.server.url}/metrics").text
        found = re.search(r'warroom_slack_requests_total\{kind="event",outcome="ignored"\} ([\d.]+)', scrape)
        return float(found.group(1)) if found else 0.0

    before = ignored()
    for retry in (None, 1, 2):
        assert rig.slack.send(body, content_type="application/json", retry=retry).status_code == 200
    assert ignored() - before == 3


def test_a_dead_card_edit_is_visible_not_silent(rig: SlackRig, policy: Policy, clock: FakeClock, db_url: str) -> None:
    w = worker(rig.server.state.sessions, policy, clock, db_url, slack=rig.api)
    ref = _declare(rig)
    w.drain()
    rig.api.fail_path("chat.update", Fault.slack("not_in_channel"))
    assert rig.slack.click("UALICE", "card_stable", ref).status_code == 200
    w.drain()
    with httpx.Client() as c:
        scrape = c.get(f"{rig.server.url}/metrics").text
        dead = c.get(
            f"{rig.server.url}/api/v1/notifications",
            params={"state": "dead"},
            headers={"Authorization": f"Bearer {rig.server.admin_token}"},
        ).json()
    assert 'warroom_notifications{channel="support",state="dead"} 1.0' in scrape
    [row] = dead["items"]
    assert row["event"] == "card" and "not_in_channel" in row["last_error"]


@pytest.mark.slow
def test_a_worker_killed_between_ack_and_work_loses_nothing(db_url: str, tmp_path: Path) -> None:
    """Real processes: `serve --no-worker` acks the click (rows committed); the worker sending the
    card edit is killed (-9) mid-call; the next worker delivers it once its lease has run out."""
    with SlackApiServer(token=SLACK_TOKEN) as api:
        policy_path = tmp_path / "policy.yaml"
        policy_path.write_text(yaml.safe_dump(policy_raw(channels=slack_channels())))
        env = env_for(
            db_url,
            WARROOM_POLICY=str(policy_path),
            WARROOM_SLACK_SIGNING_SECRET=SIGNING_SECRET,
            WARROOM_SLACK_TOKEN=SLACK_TOKEN,
            WARROOM_SLACK_API_URL=api.url,
        )
        serve = ApiProc(env, tmp_path / "serve.log").start()
        procs = [serve]
        try:
            cli.ok("user", "add", "alice", "--slack-id", "UALICE", env=env)
            cli.ok("incident", "declare", "-s", "sis", "-p", "P2", "--severity", "SEV-3", "--as", "alice", env=env)
            first = worker_proc(env, tmp_path / "w1.log").start()
            procs.append(first)
            assert api.wait_for(lambda calls: any(c.path.endswith("chat.postMessage") and c.ok for c in calls), 30)
            api.fail_path("chat.update", Fault.hang_up(60))
            slack = FakeSlack(url=f"{serve.url}/slack/events", api=api, now=time.time)
            assert slack.click("UALICE", "card_stable", "INC-1").status_code == 200
            assert api.wait_for(lambda calls: any(c.path.endswith("chat.update") for c in calls), 30)
            first.kill()
            assert not api.updates()
            second = worker_proc(env, tmp_path / "w2.log").start()
            procs.append(second)
            assert api.wait_for(lambda calls: any(c.path.endswith("chat.update") and c.ok for c in calls), 30), (
                second.log()[-2000:]
            )
            [edit] = api.updates()
            assert "stable" in edit["text"]
            slack.client.close()
        finally:
            for p in procs:
                p.stop()


def test_requests_are_forgotten_after_policy_remember_requests(
    rig: SlackRig, policy: Policy, clock: FakeClock, db_url: str
) -> None:
    from datetime import timedelta

    from sqlalchemy import func, select

    from warroom.slack.models import SlackRequest

    ref = _declare(rig)
    assert rig.slack.slash("UALICE", f"note {ref} remembered", trigger_id="5.5.remember").status_code == 200
    w = worker(rig.server.state.sessions, policy, clock, db_url, slack=rig.api)
    w.drain()
    with rig.server.state.sessions() as s:
        assert s.scalar(select(func.count()).select_from(SlackRequest)) == 1
    clock.advance(policy.slack.remember_requests + timedelta(minutes=11))
    w.drain()
    with rig.server.state.sessions() as s:
        assert s.scalar(select(func.count()).select_from(SlackRequest)) == 0
