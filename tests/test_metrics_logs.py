"""/metrics parses with Prometheus' own parser and moves; logs carry request ids, never tokens."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from datetime import timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.alert_rows import add_alert
from tests.support.alerts import accepted, dd, ingest_token, payload, send
from tests.support.http_fakes import SlackApiServer
from tests.support.notify import SLACK_TOKEN, worker
from tests.support.server import Running
from warroom.core.clock import FakeClock
from warroom.core.logs import make_handler, redact
from warroom.core.settings import Settings


def scrape(server: Running) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with server.client() as c:
        r = c.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(r.text):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_parse_and_move(server: Running, clock: FakeClock, db_url: str) -> None:
    """Every figure moves through the real path: alerts through the webhooks, deliveries through a
    worker to a local Slack API, heartbeats through the worker's own row."""
    before = scrape(server)
    assert value(before, "warroom_incidents_open", priority="P1", state="active") == 0
    assert value(before, "warroom_status_updates_overdue") == 0
    with server.admin() as c:
        for _ in range(2):
            c.post("/api/v1/incidents", json={"services": ["sis"], "priority": "P1", "severity": "SEV-2"})
        c.post("/api/v1/incidents/INC-2/transitions", json={"to": "stable"})
    datadog, alertmanager = ingest_token(server, "datadog"), ingest_token(server, "alertmanager")
    for alert_id in ("m-1", "m-2"):
        accepted(server, datadog, "datadog", dd(alert_id=alert_id, tags="env:staging,service:csp"))
    firing = payload("alertmanager_firing")
    for alert in firing["alerts"]:  # staging, impact unknown: stored, no incident
        alert["labels"]["env"] = "staging"
        alert["annotations"].pop("users_per_hour", None)
    accepted(server, alertmanager, "alertmanager", firing)
    accepted(server, alertmanager, "alertmanager", firing)  # the same delivery again
    assert send(server, "wri_not-a-token-at-all", "datadog", dd()).status_code == 401
    with SlackApiServer(token=SLACK_TOKEN) as slack:
        w = worker(server.state.sessions, server.state.policy, clock, db_url, slack=slack, worker_id="worker-a")
        w.beat()
        for _ in range(3):  # Slack is paced at one message a second per channel
            clock.advance(timedelta(seconds=1.5))
            w.drain()
        posts = [c for c in slack.ok_calls() if c.path.endswith("chat.postMessage")]
        assert len(posts) == 3  # the two declarations and the state change
    add_alert(server.state.sessions, service="csp", at=clock.now())
    add_alert(server.state.sessions, service="csp", at=clock.now(), status="resolved")
    clock.advance(timedelta(minutes=31))
    with server.admin() as c:
        c.post("/api/v1/incidents", json={"services": ["tou"], "priority": "P3", "severity": "SEV-4"})
    after = scrape(server)
    assert value(after, "warroom_incidents_open", priority="P1", state="active") == 1
    assert value(after, "warroom_incidents_open", priority="P1", state="stable") == 1
    assert value(after, "warroom_incidents_open", priority="P4", state="active") == 0  # present as 0
    assert ("warroom_incidents_open", (("priority", "P4"), ("state", "active"))) in after
    assert value(after, "warroom_status_updates_overdue") == 2
    assert value(after, "warroom_notifications", channel="support", state="sent") == 3
    # INC-3 declared, and the card edit after the state change (the channel is paced: 3 slots, 3 posts)
    assert value(after, "warroom_notifications", channel="support", state="pending") == 2
    # the oldest pending row is that card edit, enqueued before the 31 minutes went by
    assert value(after, "warroom_notifications_oldest_pending_age_seconds") == 4.5 + 31 * 60
    am_alerts = len(firing["alerts"])
    for src, outcome, n in (
        ("datadog", "created", 2),
        ("alertmanager", "created", am_alerts),
        ("alertmanager", "duplicate", am_alerts),
        ("datadog", "unauthorized", 1),
    ):
        key = dict(source=src, outcome=outcome)
        assert (
            value(after, "warroom_alerts_received_total", **key)
            == value(before, "warroom_alerts_received_total", **key) + n
        ), key
    bucket = "warroom_notification_delivery_seconds_bucket"
    for le, n in (("1.0", 0), ("5.0", 3)):  # delivered 1.5 s, 3 s and 4.5 s after they were enqueued
        assert value(after, bucket, channel="support", le=le) == value(before, bucket, channel="support", le=le) + n
    assert value(after, "warroom_alerts_firing", service="csp", tier="1") == 1
    assert value(after, "warroom_alerts_firing", service="csp", tier="2") == 2  # env:staging
    assert value(before, "warroom_alerts_firing", service="csp", tier="1") == 0
    assert value(after, "warroom_worker_heartbeat_age_seconds", worker="worker-a") == 4.5 + 31 * 60


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = make_handler(Settings(log_json=True), stream)
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)


def test_request_ids_and_no_token_in_logs(server: Running, captured: io.StringIO, make_user) -> None:  # type: ignore[no-untyped-def]
    carol = make_user("carol")
    with server.admin() as c:
        r = c.get("/api/v1/me", headers={"X-Request-ID": "trace-abc.123"})
        assert r.headers["x-request-id"] == "trace-abc.123"
        r = c.get("/api/v1/me", headers={"X-Request-ID": "bad id\twith spaces"})
        generated = r.headers["x-request-id"]
        assert len(generated) == 32 and generated != "bad id\twith spaces"
        created = c.post("/api/v1/tokens", json={"user": "carol"}).json()["token"]
        c.post("/api/v1/incidents", json={"services": ["sis"], "priority": "P2", "severity": "SEV-3"})
        oob = c.post("/api/v1/incidents/INC-1/oob-requests", json={}).json()["id"]
        moved = c.post(f"/api/v1/incidents/INC-1/oob-requests/{oob}/transitions", json={"to": "cancelled"})
        assert moved.status_code == 200
    with server.client() as anon:
        assert anon.get(f"/api/v1/incidents?token={server.admin_token}").status_code == 200
        assert anon.get("/api/v1/me", auth=("x", carol)).status_code == 200
        assert anon.get("/api/v1/me", headers={"Authorization": "Bearer wru_guessedguessedguessed"}).status_code == 401
    logging.getLogger("warroom.test").warning("posting with xoxb-123-456-abc and %s", created)
    text = captured.getvalue()
    for secret in (server.admin_token, carol, created, "xoxb-123", "wru_guessed"):
        assert secret not in text, secret
    lines = [json.loads(line) for line in text.splitlines()]
    access = [x for x in lines if x["logger"] == "warroom.access"]
    assert any(x["request_id"] == "trace-abc.123" and x["path"] == "/api/v1/me" and x["status"] == 200 for x in access)
    assert any(x["request_id"] == generated for x in access)
    assert any(x["path"] == "/api/v1/incidents" and x["status"] == 200 and "token" not in x["msg"] for x in access)
    oob_line = next(x for x in lines if x["logger"] == "warroom.deploys.service")
    assert oob_line["request_id"] == moved.headers["x-request-id"]  # set inside the endpoint's thread
    assert oob_line["incident"] == "INC-1"
    assert any("[redacted]" in x["msg"] for x in lines)


def test_redact_patterns() -> None:
    assert redact("Authorization: Bearer abc.def-ghi") == "Authorization: [redacted]"
    assert redact("GET /x?token=wru_abcdefghijkl&page=2") == "GET /x?token=[redacted]&page=2"
    assert redact("password=hunter2 ok") == "password=[redacted] ok"
    assert redact("https://hooks.slack.com/services/T0/B0/XYZ") == "https://[redacted]"
    assert redact("nothing secret here") == "nothing secret here"


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("POST https://f.azurewebsites.net/api/alert?code=C0DESECRET==&clientId=x", "C0DESECRET"),
        (
            "POST https://prod-1.westus.logic.azure.com:443/workflows/1/triggers/manual/paths/invoke"
            "?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=S1GSECRET",
            "S1GSECRET",
        ),
        ("GET https://example.org/cb?access_token=ACCESSSECRET&x=1", "ACCESSSECRET"),
        ("POST https://discord.com/api/webhooks/1234567890/DISCORD-SECRET_x", "DISCORD-SECRET"),
        ("POST https://acme.webhook.office.com/webhookb2/a@b/IncomingWebhook/TEAMSSECRET/c", "TEAMSSECRET"),
        ("POST https://proxy.internal/webhookb2/a@b/IncomingWebhook/TEAMSSECRET/c", "TEAMSSECRET"),
        ("POST http://127.0.0.1:9/services/T0SECRET/B0SECRET/HOOKSECRET", "HOOKSECRET"),
        ("POST https://hooks.slack.com/workflows/T0/A0/123/WORKFLOWSECRET", "WORKFLOWSECRET"),
        ("cannot reach postgresql://warroom:PGSECRET@db.internal:5432/warroom", "PGSECRET"),
        ("engine postgresql+psycopg://u:p%40SS@h/db", "p%40SS"),
    ],
)
def test_redact_webhook_secrets_and_passwords_in_urls(text: str, secret: str) -> None:
    """Issue 19 item 7: each of these went to the log as written."""
    assert secret not in redact(text)
    assert "[redacted]" in redact(text)


def test_redact_keeps_ordinary_text() -> None:
    kept = ["postgresql://warroom@db/warroom", "error code 500 from Slack", "keyboard=ok", "INC-12 code review"]
    assert [redact(t) for t in kept] == kept


def test_deliveries_do_not_log_their_urls(engine, db_url: str, clock: FakeClock) -> None:  # type: ignore[no-untyped-def]
    """As `serve` and `worker` set logging up: deliveries to webhooks whose URLs carry secrets
    (Slack's path, Azure's ?code=, Teams workflows' &sig=) leave no URL in the log: httpx logs
    each request's full URL at INFO."""
    from tests.support.http_fakes import SlackWebhookServer, WebhookReceiver
    from tests.support.notify import make_policy
    from warroom.core.db import session_factory
    from warroom.core.logs import setup_logging
    from warroom.notifications import service as outbox

    stream = io.StringIO()
    root = logging.getLogger()
    saved = root.handlers[:], root.level, {n: logging.getLogger(n).level for n in ("httpx", "httpcore")}
    with SlackWebhookServer() as hook, WebhookReceiver() as receiver:
        slack_url = hook.url.replace("/T000/B000/XXXX", "/T0SECRET/B0SECRET/HOOKSECRET") + "?code=C0DESECRET"
        policy = make_policy(
            channels={
                "hook": {"type": "slack_webhook", "url": slack_url},
                "flow": {"type": "webhook", "url": f"{receiver.url}?sv=1.0&sig=S1GSECRET"},
            },
            routes={"declared": ["hook", "flow"]},
        )
        sessions = session_factory(engine)
        with sessions.begin() as s:
            outbox.enqueue(s, policy=policy, now=clock.now(), event="declared", text="INC-1 declared")
        try:
            setup_logging(Settings(log_json=True))
            assert isinstance(root.handlers[0], logging.StreamHandler)
            root.handlers[0].setStream(stream)
            worker(sessions, policy, clock, db_url).drain()
        finally:
            root.handlers[:] = saved[0]
            root.setLevel(saved[1])
            for name, level in saved[2].items():
                logging.getLogger(name).setLevel(level)
        assert len(hook.ok_calls()) == 1 and len(receiver.ok_calls()) == 1
    text = stream.getvalue()
    for secret in ("HOOKSECRET", "C0DESECRET", "S1GSECRET", "/hooks/warroom"):
        assert secret not in text, (secret, text)


def test_accepted_alerts_log_at_debug_refused_at_info(server: Running, captured: io.StringIO) -> None:
    from tests.support.alerts import ingest_token

    token = ingest_token(server, "datadog")
    with server.client(token) as c:
        body = {
            "alert_id": "9",
            "cycle_key": "1",
            "transition": "Triggered",
            "title": "[Triggered] x",
            "tags": "env:prod,service:sis",
            "id": "1",
        }
        assert c.post("/api/v1/ingest/datadog", json=body).status_code == 202
    with server.client("wri_not-a-real-token-at-all") as c:
        assert c.post("/api/v1/ingest/datadog", json=body).status_code == 401
    access = [x for x in map(json.loads, captured.getvalue().splitlines()) if x["logger"] == "warroom.access"]
    levels = {(x["path"], x["status"]): x["level"] for x in access}
    assert levels[("/api/v1/ingest/datadog", 202)] == "DEBUG"
    assert levels[("/api/v1/ingest/datadog", 401)] == "INFO"
