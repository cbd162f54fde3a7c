"""Slack incoming webhooks, signed generic webhooks and email over SMTP, against local servers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

from tests.support import cli
from tests.support.http_fakes import Fault, SlackApiServer, SlackWebhookServer, WebhookReceiver
from tests.support.notify import SLACK_TOKEN, make_policy, policy_raw, slack_channels, worker
from tests.support.server import Running, free_port, http_client
from tests.support.smtp_fake import SmtpServer
from warroom.core.clock import FakeClock, utcnow
from warroom.notifications import signing
from warroom.notifications.models import Notification
from warroom.policy import Policy

SECRET = "s3cret-for-tests"


@pytest.fixture
def hook() -> Iterator[SlackWebhookServer]:
    with SlackWebhookServer() as server:
        yield server


@pytest.fixture
def receiver(clock: FakeClock) -> Iterator[WebhookReceiver]:
    with WebhookReceiver(secret=SECRET, now=lambda: clock.now().timestamp()) as server:
        yield server


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with SmtpServer() as server:
        yield server


@pytest.fixture
def policy(hook: SlackWebhookServer, receiver: WebhookReceiver) -> Policy:
    channels = {
        "hook": {"type": "slack_webhook", "url": hook.url},
        "tool": {"type": "webhook", "url": receiver.url, "secret": SECRET},
        "mail": {"type": "email", "to": ["oncall@example.test", "leads@example.test"]},
    }
    return make_policy(channels=channels, routes={e: ["hook", "tool", "mail"] for e in ("declared", "update")})


def _rows(server: Running, channel: str) -> list[Notification]:
    with server.state.sessions() as s:
        return list(s.scalars(select(Notification).where(Notification.channel == channel).order_by(Notification.id)))


def _declare(server: Running) -> str:
    with server.admin() as c:
        r = c.post(
            "/api/v1/incidents",
            json={"services": ["tou"], "priority": "P2", "severity": "SEV-3", "title": "Terms page 500s"},
        )
        assert r.status_code == 201
        return str(r.json()["id"])


def test_every_channel_type_delivers(
    server: Running,
    hook: SlackWebhookServer,
    receiver: WebhookReceiver,
    smtp: SmtpServer,
    clock: FakeClock,
    db_url: str,
) -> None:
    w = worker(server.state.sessions, server.state.policy, clock, db_url, smtp=smtp)
    ref = _declare(server)
    with server.admin() as c:
        c.post(f"/api/v1/incidents/{ref}/updates", json={"message": "Deploy reverted"})
    w.drain()
    # Slack incoming webhook: Block Kit with text fallback
    msgs = hook.messages()
    assert [m["text"].splitlines()[0] for m in msgs] == [
        ":rotating_light: Incident declared: INC-1 [P2 SEV-3 active] Terms page 500s",
        "INC-1 [P2 SEV-3 active] Terms page 500s (status update from admin)",
    ]
    assert msgs[0]["blocks"][0]["text"]["type"] == "mrkdwn"
    # generic webhook: signed, timestamped, idempotency key
    calls = receiver.deliveries()
    assert len(calls) == 2
    rows = _rows(server, "tool")
    for call, row in zip(calls, rows, strict=True):
        assert call.headers["x-warroom-idempotency-key"] == row.idempotency_key
        assert call.data["idempotency_key"] == row.idempotency_key and call.data["incident"] == "INC-1"
        header = call.headers["x-warroom-signature"]
        assert header.startswith(f"t={call.headers['x-warroom-timestamp']},v1=")
        assert signing.verify(SECRET, header, call.body, now=clock.now().timestamp())
        assert not signing.verify("wrong", header, call.body, now=clock.now().timestamp())
        assert not signing.verify(SECRET, header, call.body + b" ", now=clock.now().timestamp())
        assert not signing.verify(SECRET, header, call.body, now=clock.now().timestamp() + 3600)  # replayed later
    assert calls[0].data["event"] == "declared" and calls[1].headers["x-warroom-event"] == "update"
    # email
    assert smtp.wait_for(2)
    first = smtp.messages[0]
    assert first["Subject"] == "Incident declared: INC-1 [P2 SEV-3 active] Terms page 500s"
    assert first["To"] == "oncall@example.test, leads@example.test"
    assert first["X-Warroom-Idempotency-Key"] == _rows(server, "mail")[0].idempotency_key
    assert first["References"] == "<INC-1@warroom>"
    assert smtp.envelopes[0][1] == ["oncall@example.test", "leads@example.test"]
    assert "Deploy reverted" in smtp.messages[1].get_content()
    assert all(r.state == "sent" for ch in ("hook", "tool", "mail") for r in _rows(server, ch))


def test_webhook_failures(
    server: Running,
    hook: SlackWebhookServer,
    receiver: WebhookReceiver,
    smtp: SmtpServer,
    clock: FakeClock,
    db_url: str,
) -> None:
    w = worker(server.state.sessions, server.state.policy, clock, db_url, smtp=smtp)
    hook.fail_next(Fault.http(429, "rate_limited", retry_after=10))
    receiver.fail_next(Fault.http(502))
    smtp.fail_next("451 4.3.0 Try again later")
    _declare(server)
    w.drain()
    (h,), (t,), (m,) = _rows(server, "hook"), _rows(server, "tool"), _rows(server, "mail")
    assert h.state == t.state == m.state == "pending"
    assert h.next_attempt_at - clock.now() >= timedelta(seconds=10) and "429" in (h.last_error or "")
    assert "HTTP 502" in (t.last_error or "") and "SMTP 451" in (m.last_error or "")
    clock.advance(11)
    w.drain()
    assert [r.state for ch in ("hook", "tool", "mail") for r in _rows(server, ch)] == ["sent"] * 3
    # permanent: slack hook says no_service, receiver rejects the signature (401), mailbox 550
    hook.fail_next(Fault.http(404, "no_service"))
    receiver.secret = "rotated"
    smtp.fail_next("550 5.1.1 No such user")
    with server.admin() as c:
        c.post("/api/v1/incidents/INC-1/updates", json={"message": "x"})
    w.drain()
    dead = {ch: _rows(server, ch)[-1] for ch in ("hook", "tool", "mail")}
    assert {r.state for r in dead.values()} == {"dead"}
    assert dead["hook"].last_error == "permanent: HTTP 404: no_service"
    assert dead["tool"].last_error == "permanent: HTTP 401: bad signature"
    assert dead["mail"].last_error.startswith("permanent: SMTP 550")


def test_cli_lists_and_retries_dead(
    server: Running, receiver: WebhookReceiver, clock: FakeClock, db_url: str, tmp_path: Path
) -> None:
    w = worker(server.state.sessions, server.state.policy, clock, db_url)
    receiver.fail_always(Fault.http(410, "gone"))
    _declare(server)
    w.drain()
    (row,) = _rows(server, "tool")
    assert row.state == "dead"
    env = {"WARROOM_DATABASE_URL": db_url}
    out = cli.warroom("notifications", "list", "--json", env=env)
    assert out.returncode == 0, out.stderr
    items = json.loads(out.stdout)["items"]
    assert [i["id"] for i in items if i["channel"] == "tool"] == [row.id]
    receiver.clear()
    out = cli.warroom("notifications", "retry", str(row.id), env=env)
    assert out.returncode == 0 and "queued again" in out.stdout, out.stderr
    clock.set(utcnow() + timedelta(minutes=1))  # the CLI stamped wall-clock time
    w.drain()
    assert _rows(server, "tool")[0].state == "sent"
    out = cli.warroom("notifications", "retry", str(row.id), env=env)
    assert out.returncode == 1 and "already sent" in out.stderr


def test_worker_inside_serve_and_healthz(engine, db_url: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """`serve` runs the worker loop (real clock); /healthz goes 503 when the heartbeat is stale."""
    from tests.conftest import start_server

    with SlackApiServer() as slack:
        fast = make_policy(
            channels=slack_channels(), worker={"heartbeat_every": "100ms", "stale_after": "2s", "poll_interval": "50ms"}
        )
        clock = FakeClock()
        running = start_server(
            engine, db_url, fast, clock, run_worker=True, slack_token=SLACK_TOKEN, slack_api_url=slack.url
        )
        try:
            with running.admin() as c:
                c.post("/api/v1/incidents", json={"services": ["sis"], "priority": "P3", "severity": "SEV-3"})
                assert slack.wait_for(lambda calls: any(x.ok for x in calls), timeout=10)
                health = c.get("/healthz")
                assert health.status_code == 200 and health.json()["checks"]["worker"] == "ok"
                clock.advance(3)  # the thread beats with the fake clock's time... then stops beating
                assert running.app.worker is not None
                running.app.worker.stop.set()
                time.sleep(0.3)
                health = c.get("/healthz")
                assert health.status_code == 503 and health.json()["checks"]["worker"].startswith("stale")
        finally:
            running.server.stop()


def test_healthz_without_any_worker_warns(server: Running) -> None:
    with server.client() as c:
        body = c.get("/healthz").json()
    assert "none has run yet" in body["checks"]["worker"] and body["warnings"]


def test_slack_without_a_token_is_said_at_start_on_healthz_and_per_dead_row(
    engine, db_url: str, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:  # type: ignore[no-untyped-def]
    """The reference policy routes to Slack; a fresh install has no token: say so before anything
    goes dead, and name each dead row with the command that retries it."""
    from tests.conftest import start_server
    from warroom.policy import reference_policy

    running = start_server(engine, db_url, reference_policy(), clock)  # no WARROOM_SLACK_TOKEN
    try:
        with running.client() as c:
            warnings = c.get("/healthz").json()["warnings"]
        assert any(
            "channel 'support' (#identity-support) is Slack but WARROOM_SLACK_TOKEN is not set" in w for w in warnings
        ), warnings
        policy = running.state.policy
        starting = worker(running.state.sessions, policy, clock, db_url)
        starting.stop.set()
        with caplog.at_level("WARNING", logger="warroom"):
            starting.run()  # stopped at once: only the start-up
            assert "WARROOM_SLACK_TOKEN is not set" in caplog.text
            _declare(running)
            worker(running.state.sessions, policy, clock, db_url).drain()
        (row,) = _rows(running, "support")
        assert row.state == "dead" and "not_authed" in (row.last_error or "")
        assert f"notification {row.id} to 'support' is dead" in caplog.text
        assert f"warroom notifications retry {row.id}" in caplog.text
        with running.client() as c:
            assert c.get("/healthz").json()["warnings"][-1].startswith("1 dead notification")
    finally:
        running.server.stop()


def test_worker_process_stops_on_sigterm(db_url: str, tmp_path: Path) -> None:
    raw = policy_raw(worker={"heartbeat_every": "100ms", "poll_interval": "50ms"})
    policy_file = tmp_path / "policy.yaml"
    policy_file.write_text(yaml.safe_dump(raw))
    env = {**os.environ, "WARROOM_DATABASE_URL": db_url, "WARROOM_POLICY": str(policy_file)}
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "warroom", "worker", "--metrics-port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert f"worker metrics on http://127.0.0.1:{port}/metrics" in proc.stdout.readline()
        assert "running" in proc.stdout.readline()
        with http_client(timeout=5) as c:  # a worker process's own figures (delivery latency), for Prometheus
            scraped = c.get(f"http://127.0.0.1:{port}/metrics").text
        assert "warroom_notification_delivery_seconds" in scraped and "process_cpu_seconds_total" in scraped
        time.sleep(0.5)
        proc.terminate()
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    from warroom.core.db import make_engine, session_factory
    from warroom.scheduler.models import WorkerHeartbeat

    eng = make_engine(db_url)
    with session_factory(eng)() as s:
        (beat,) = s.scalars(select(WorkerHeartbeat)).all()
        assert beat.stopped_at is not None
    eng.dispose()
