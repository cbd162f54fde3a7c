"""Ingest under hostile or absurd input (issue 19 items 3 and 5), over real HTTP.

Numbers past what the database holds are kept as unknown impact with the reason on the alert (the
batch succeeds, nothing is retried forever); a made-up token is refused before its body is read as
JSON, failed attempts are limited per client address, and only verified tokens have a bucket.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import Engine

from tests.support.alerts import accepted, alerts, dd, ingest_token, payload, send
from tests.support.procs import ApiProc, env_for
from tests.support.server import Running, http_client
from warroom.core.clock import SystemClock
from warroom.core.db import session_factory
from warroom.ingest import parsers
from warroom.users import service as users

OUT_OF_RANGE = ("inf", "1e400", "9223372036854775808", "2147483648")


@pytest.fixture
def token(server: Running) -> str:
    return ingest_token(server)


def _am_batch(values: tuple[str, ...]) -> dict[str, Any]:
    body = payload("alertmanager_firing")
    template = body["alerts"][0]
    body["alerts"] = []
    for n, value in enumerate((*values, "1500")):
        alert = json.loads(json.dumps(template))
        alert["fingerprint"] = f"users-{n}"
        alert["labels"]["instance"] = f"host-{n}"
        alert["annotations"]["users_per_hour"] = value
        body["alerts"].append(alert)
    return body


def test_out_of_range_users_are_kept_as_unknown_and_the_batch_succeeds(server: Running, token: str) -> None:
    """`inf`, `1e400`, 2**63 and (PostgreSQL's INTEGER) 2**31 were a 500: Alertmanager retried the
    whole batch forever and the good alert in it was never stored."""
    answer = accepted(server, token, "alertmanager", _am_batch(OUT_OF_RANGE))
    assert len(answer["alerts"]) == len(OUT_OF_RANGE) + 1
    by_key = {a["dedup_key"]: a for a in alerts(server, limit=50)["items"]}
    assert by_key["users-4"]["users_per_hour"] == 1500  # the good one in the same batch
    for n in range(len(OUT_OF_RANGE)):
        stored = by_key[f"users-{n}"]
        assert stored["users_per_hour"] is None, stored
        assert stored["priority_rule"] == "unknown-impact-provisional", stored
        assert "users_per_hour" in stored["priority_reason"] and "out of range" in stored["priority_reason"], stored


def test_out_of_range_users_in_the_dry_run(server: Running) -> None:
    with server.admin() as c:
        r = c.post("/api/v1/triage/simulate?source=alertmanager", json=_am_batch(("1e400",)))
    assert r.status_code == 200, r.text
    first = r.json()["results"][0]
    assert first["users_per_hour"] is None and "out of range" in json.dumps(first), first


def test_absurd_numbers_and_times_elsewhere_in_bodies_are_never_a_500(server: Running, token: str) -> None:
    """The other numbers senders put in bodies: kept or ignored, never a 500 that a sender retries forever."""
    sent: list[tuple[str, Any, int]] = []
    for n, value in enumerate(("1e400", "inf", "nan", 10**30, "-99999999999999999")):
        body = dd(alert_id=f"date-{n}")
        body["date"] = value
        sent.append(("datadog date", value, send(server, token, "datadog", body).status_code))
    for value in ("99999-01-01T00:00:00Z", "0001-01-01T00:00:00+14:00"):
        body = payload("alertmanager_firing")
        body["alerts"][0]["startsAt"] = value
        sent.append(("alertmanager startsAt", value, send(server, token, "alertmanager", body).status_code))
    for value in (10**30, "1e400", -1):
        body = payload("alertmanager_firing")
        body["truncatedAlerts"] = value
        sent.append(("alertmanager truncatedAlerts", value, send(server, token, "alertmanager", body).status_code))
    body = payload("events_trigger")
    body["payload"]["timestamp"] = "99999-01-01T00:00:00Z"
    sent.append(("events timestamp", "99999", send(server, token, "events", body).status_code))
    assert all(status < 500 for *_, status in sent), sent


def test_made_up_tokens_never_get_a_bucket(server: Running, token: str) -> None:
    """The per-token limiter was keyed on the token the caller claimed: every made-up token
    had a bucket (and a caller without one shared `ip:` buckets with everyone at its address)."""
    limiter = server.state.ingest_limiter
    for n in range(3):
        r = send(server, f"made-up-{n}", "datadog", {"title": "x"})
        assert r.status_code == 401, r.text
        assert users.hash_token(f"made-up-{n}") not in limiter
    r = send(server, None, "datadog", {"title": "x"})
    assert r.status_code == 401, r.text
    assert len(limiter) == 0
    accepted(server, token, "datadog", {"title": "[Triggered] x", "alert_id": "1", "id": "1"})
    assert users.hash_token(token) in limiter and len(limiter) == 1


def test_a_revoked_token_stops_at_once_though_the_gate_remembers_it(server: Running, token: str) -> None:
    """The gate trusts a verified token for a while (no look-up per request); the writer checks
    every batch's tokens in its transaction, so a revoked one stores nothing from the next request."""
    body = {"title": "[Triggered] x", "alert_id": "1", "id": "1"}
    accepted(server, token, "datadog", body)
    with server.admin() as admin:
        mine = next(t for t in admin.get("/api/v1/tokens").json() if t["name"] == "tests")
        assert admin.delete(f"/api/v1/tokens/{mine['id']}").status_code == 200
    r = send(server, token, "datadog", {**body, "alert_id": "2", "id": "2"})
    assert r.status_code == 401 and "revoked" in r.json()["error"]["message"], r.text
    assert alerts(server)["total"] == 1


# --- A real `warroom serve` process: made-up tokens are refused before the body is read ---------


def _token(engine: Engine, name: str = "guard") -> str:
    with session_factory(engine).begin() as s:
        _, plain = users.create_token(s, now=SystemClock().now(), user=None, kind="ingest", name=name)
    return plain


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _big_alertmanager(count: int = 1900) -> bytes:
    body = payload("alertmanager_firing")
    template = body["alerts"][0]
    body["alerts"] = [
        {**template, "fingerprint": f"big-{n}", "labels": {**template["labels"], "instance": f"host-{n:05d}"}}
        for n in range(count)
    ]
    return json.dumps(body).encode()


def _post(api: ApiProc, source: str, raw: bytes, token: str | None, **headers: str) -> httpx.Response:
    auth = {"Authorization": f"Bearer {token}"} if token else {}
    with http_client(base_url=api.url, timeout=60) as c:
        return c.post(
            f"/api/v1/ingest/{source}", content=raw, headers={"content-type": "application/json", **auth, **headers}
        )


@pytest.mark.slow
def test_made_up_tokens_with_huge_bodies_are_refused_before_parsing(db_url: str, tmp_path: Path) -> None:
    """The server spends on ten ~900 KB bodies with made-up tokens less than a third of what
    parsing them takes (it parsed and triaged each before the token was checked); a malformed
    one is a 401, not a 400."""
    big = _big_alertmanager()
    assert 800_000 < len(big) < 1_000_000
    started = time.process_time()
    for _ in range(3):
        parsers.parse("alertmanager", parsers.loads(big))
    parse_s = (time.process_time() - started) / 3
    api = ApiProc(env_for(db_url, WARROOM_INGEST_FAILURE_BURST="1000"), tmp_path / "api.log").start()
    try:
        assert api.popen is not None
        _post(api, "alertmanager", b"{}", "warmed-up")  # imports, first connection
        before = _cpu_s(api.popen.pid)
        for n in range(10):
            r = _post(api, "alertmanager", big, f"made-up-{n}")
            assert r.status_code == 401, r.text
        spent = _cpu_s(api.popen.pid) - before
        assert spent < 10 * parse_s / 3, (spent, parse_s)  # main: ~10 times parse_s
        malformed = b'{"alerts": [' + b'{"labels": {"x": "y"}}, ' * 30_000
        r = _post(api, "alertmanager", malformed, "made-up-again")
        assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized", r.text
        r = _post(api, "events", b'{"routing_key": "made-up", "payload": ' + b" " * 600_000 + b"}", None)
        assert r.status_code == 413, r.text  # a body carrying its token is bounded before it is read
    finally:
        api.stop()


@pytest.mark.slow
def test_failed_attempts_are_limited_per_client_address(db_url: str, engine: Engine, tmp_path: Path) -> None:
    """Behind a trusted proxy: a guesser's address is answered 429 after its failures (before its
    guesses are looked up), a token that address already proved still works, and other addresses
    are not affected."""
    sender, late = _token(engine, "sender"), _token(engine, "late")
    env = env_for(
        db_url,
        WARROOM_TRUSTED_PROXIES="127.0.0.0/8",
        WARROOM_INGEST_FAILURE_BURST="3",
        WARROOM_INGEST_FAILURES_PER_MIN="0.1",
    )
    api = ApiProc(env, tmp_path / "api.log").start()
    guesser = {"X-Forwarded-For": "203.0.113.66"}
    alert = json.dumps({"title": "[Triggered] x", "alert_id": "7", "id": "7"}).encode()
    try:
        assert _post(api, "datadog", alert, sender, **guesser).status_code == 202
        codes = [_post(api, "datadog", alert, f"guess-{n}", **guesser).status_code for n in range(5)]
        assert codes == [401, 401, 401, 429, 429], codes
        r = _post(api, "datadog", alert, None, **guesser)
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1, r.text
        event = {"routing_key": "guess", "event_action": "trigger", "payload": {"summary": "x"}}
        assert _post(api, "events", json.dumps(event).encode(), None, **guesser).status_code == 429
        assert _post(api, "datadog", alert, late, **guesser).status_code == 429  # not yet proved from there
        assert _post(api, "datadog", alert, sender, **guesser).status_code == 202  # proved before
        assert _post(api, "datadog", alert, late, **{"X-Forwarded-For": "198.51.100.10"}).status_code == 202
        assert _post(api, "datadog", alert, "guess-x", **{"X-Forwarded-For": "198.51.100.10"}).status_code == 401
    finally:
        api.stop()


@pytest.mark.slow
def test_a_made_up_forwarded_for_does_not_escape_the_failure_limit(db_url: str, tmp_path: Path) -> None:
    """Without WARROOM_TRUSTED_PROXIES the peer is the client: a new X-Forwarded-For per guess is ignored."""
    env = env_for(db_url, WARROOM_INGEST_FAILURE_BURST="2", WARROOM_INGEST_FAILURES_PER_MIN="0.1")
    api = ApiProc(env, tmp_path / "api.log").start()
    alert = json.dumps({"title": "[Triggered] x", "alert_id": "7", "id": "7"}).encode()
    try:
        codes = [
            _post(api, "datadog", alert, f"guess-{n}", **{"X-Forwarded-For": f"203.0.113.{n}"}).status_code
            for n in range(3)
        ]
        assert codes == [401, 401, 429], codes
    finally:
        api.stop()
