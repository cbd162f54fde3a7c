"""Slack mrkdwn injection (issue 19 item 4): what people and alert senders write reaches Slack as text,
never as markup; only http(s) links become links. Real deliveries to the fake Slack, both databases."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from tests.conftest import T0
from tests.support.alerts import accepted, ingest_token, payload
from tests.support.http_fakes import SlackApiServer, SlackWebhookServer
from tests.support.notify import make_policy, slack_channels, worker
from tests.support.server import Running
from warroom.core.clock import FakeClock
from warroom.notifications import blocks
from warroom.policy import Policy

EVIL = "<!here> R&D <https://evil.example|https://sso.example> <@U0BOSS> <!subteam^S0ALL>"
ESCAPED = "&lt;!here&gt; R&amp;D &lt;https://evil.example|https://sso.example&gt; &lt;@U0BOSS&gt;"


@pytest.fixture
def slack() -> Iterator[SlackApiServer]:
    with SlackApiServer() as server:
        yield server


@pytest.fixture
def policy() -> Policy:
    return make_policy(channels=slack_channels())


def _mrkdwn_of(post: dict[str, Any]) -> list[str]:
    """Every mrkdwn string of one chat.postMessage: the fallback text and each block's text."""
    out = [str(post.get("text", ""))]
    for block in post.get("blocks") or []:
        if block.get("text"):
            out.append(block["text"]["text"])
        out += [e["text"] for e in block.get("elements", []) if "text" in e and isinstance(e["text"], str)]
        out += [f["text"] for f in block.get("fields", [])]
    return out


def _assert_inert(texts: list[str]) -> None:
    for text in texts:
        for markup in ("<!here>", "<!channel>", "<https://evil", "<@U0BOSS>", "<!subteam^S0ALL>", "<javascript"):
            assert markup not in text, text


def test_titles_notes_and_automatic_updates_reach_slack_escaped(
    server: Running, slack: SlackApiServer, clock: FakeClock, db_url: str
) -> None:
    w = worker(server.state.sessions, server.state.policy, clock, db_url, slack=slack)
    with server.admin() as c:
        r = c.post(
            "/api/v1/incidents", json={"services": ["sis"], "priority": "P1", "severity": "SEV-2", "title": EVIL}
        )
        assert r.status_code == 201, r.text
        ref = r.json()["id"]
        assert c.post(f"/api/v1/incidents/{ref}/timeline", json={"text": f"note {EVIL}"}).status_code == 201
        assert c.post(f"/api/v1/incidents/{ref}/updates", json={"message": f"update {EVIL}"}).status_code == 201
        clock.advance(60)
        assert c.post(f"/api/v1/incidents/{ref}/timeline", json={"text": f"later {EVIL}"}).status_code == 201
    w.drain()
    clock.set(T0 + timedelta(minutes=31))  # the automatic update quotes the note
    w.drain()
    with server.admin() as c:
        assert c.post(f"/api/v1/incidents/{ref}/transitions", json={"to": "stable"}).status_code == 200
    w.drain()
    posts = slack.posts("#support")
    texts = [t for p in posts for t in _mrkdwn_of(p)]
    _assert_inert(texts)
    declared, update = posts[0]["text"], posts[1]["text"]
    assert ESCAPED in declared and ESCAPED in update
    auto = next(p["text"] for p in posts if "automatic status update" in p["text"])
    assert f"later {ESCAPED}" in auto, auto
    # the thread's first message, rewritten by chat.update, is escaped too; the open link is ours
    assert slack.updates()
    for upd in slack.updates():
        _assert_inert(_mrkdwn_of(upd))
    link = next(f["text"] for b in posts[0]["blocks"] for f in b.get("fields", []) if f["text"].startswith("*Link*"))
    assert "|open in warroom>" in link and "<http://" in link


def test_alert_titles_labels_and_links_reach_slack_escaped(
    server: Running, slack: SlackApiServer, clock: FakeClock, db_url: str
) -> None:
    w = worker(server.state.sessions, server.state.policy, clock, db_url, slack=slack)
    token = ingest_token(server, "events")
    body = payload("events_trigger")
    body["routing_key"] = token
    body["payload"]["summary"] = f"MPI down {EVIL}"
    body["payload"]["custom_details"]["region"] = EVIL
    body["links"] = [{"href": "javascript:alert(1)//https://x", "text": "x"}]
    accepted(server, token, "events", body)
    w.drain()
    clock.set(T0 + timedelta(minutes=31))
    w.drain()
    posts = slack.posts("#support")
    assert posts, "the P1 alert declares an incident"
    _assert_inert([t for p in posts for t in _mrkdwn_of(p)])
    assert not any("javascript:" in t for p in posts for t in _mrkdwn_of(p))
    auto = next(p["text"] for p in posts if "automatic status update" in p["text"])
    assert f"MPI down {ESCAPED}" in auto


def test_declare_prompt_links_only_http(db_url: str, engine: Any, clock: FakeClock) -> None:
    """With auto_declare off, the prompt's link is the alert's: a javascript: link never becomes one."""
    from tests.conftest import start_server

    pol = make_policy(channels=slack_channels(), triage={"auto_declare": False})
    running = start_server(engine, db_url, pol, clock)
    try:
        with SlackApiServer() as slack:
            w = worker(running.state.sessions, pol, clock, db_url, slack=slack)
            token = ingest_token(running, "events")
            for key, href in (("a", "javascript:alert(1)"), ("b", "https://grafana.example/d?a=1&b=<2>")):
                body = payload("events_trigger")
                body["routing_key"], body["dedup_key"] = token, key
                body["payload"]["custom_details"]["service"] = "sis" if key == "a" else "tou"
                body["links"] = [{"href": href, "text": "dash"}]
                accepted(running, token, "events", body)
            w.drain()
            posts = slack.posts("#support")
            assert len(posts) == 2, [p["text"] for p in posts]
            contexts = [b["elements"][0]["text"] for p in posts for b in p["blocks"] if b["type"] == "context"]
            assert not any("javascript" in c for c in contexts)
            assert any("<https://grafana.example/d?a=1&amp;b=&lt;2&gt;|" in c for c in contexts), contexts
    finally:
        running.server.stop()


def test_slack_webhooks_get_the_same_escaping(clock: FakeClock, db_url: str, engine: Any) -> None:
    from tests.conftest import start_server

    with SlackWebhookServer() as hook:
        pol = make_policy(
            channels={"support": {"type": "slack_webhook", "url": hook.url}}, routes={"declared": ["support"]}
        )
        running = start_server(engine, db_url, pol, clock)
        try:
            w = worker(running.state.sessions, pol, clock, db_url)
            with running.admin() as c:
                r = c.post(
                    "/api/v1/incidents",
                    json={"services": ["sis"], "priority": "P2", "severity": "SEV-3", "title": EVIL},
                )
                assert r.status_code == 201
            w.drain()
            (call,) = hook.ok_calls()
            body = json.loads(call.body)
            _assert_inert(_mrkdwn_of(body))
            assert ESCAPED in body["text"]
        finally:
            running.server.stop()


def test_mrkdwn_keeps_only_our_mentions() -> None:
    text = "<@U1> please; <@U2> and <!subteam^S9> and <!here>"
    out = blocks.mrkdwn(text, {"mentions": {"U1": "alice", "!subteam^S9": "leads"}})
    assert out == "<@U1> please; &lt;@U2&gt; and <!subteam^S9> and &lt;!here&gt;"
    assert blocks.plain(text, {"mentions": {"U1": "alice", "!subteam^S9": "leads"}}).startswith("@alice please; @U2")
    assert (
        blocks.link("javascript:x", "a") is None
        and blocks.link("https://a/b|c>", "x<y") == "<https://a/b%7Cc&gt;|x&lt;y>"
    )
    assert blocks.cut_escaped("a&amp;b", 4) == "a…"
