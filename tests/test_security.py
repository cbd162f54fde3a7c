"""Security headers and the rate limiter's arithmetic."""

from __future__ import annotations

from tests.support.server import Running
from tests.support.web import login, make_web_user
from warroom.api.security import CSP
from warroom.core.ratelimit import RateLimiter


def test_headers(server: Running) -> None:
    with server.client() as c:
        r = c.get("/healthz")
        assert r.headers["x-content-type-options"] == "nosniff"
        docs = c.get("/docs")
        assert docs.headers["x-frame-options"] == "DENY"
        assert "frame-ancestors 'none'" in docs.headers["content-security-policy"]


def test_one_csp_set_in_one_place(server: Running) -> None:
    """Issue 17: api.security held one CSP (and a looser one for /docs), web.render another."""
    make_web_user(server, "alice")
    alice, _ = login(server, "alice")
    html = [alice.get(p) for p in ("/", "/incidents", "/policy", "/reports", "/incidents/INC-9")]
    with server.client() as anon:
        html += [anon.get("/docs"), anon.get("/status"), anon.get("/login")]
        others = [anon.get("/healthz"), anon.get("/api/v1/status"), anon.get("/static/app.css"), anon.get("/api/v1/me")]
        others.append(anon.post("/api/v1/ingest/datadog", json={}))  # answered by the webhook gate
    for r in html:
        assert r.headers["content-type"].startswith("text/html"), r.url
        assert r.headers.get_list("content-security-policy") == [CSP], r.url
        assert r.headers["x-frame-options"] == "DENY", r.url
    for r in html + others:
        assert r.headers.get_list("x-content-type-options") == ["nosniff"], r.url
        assert r.headers.get_list("referrer-policy") == ["same-origin"], r.url
    assert "unsafe-inline" not in CSP and "http" not in CSP  # nothing inline, nothing from another site
    docs = html[5].text
    assert "cdn" not in docs and "<script>" not in docs and "/static/swagger-ui-bundle.js" in docs


def test_rate_limiter_buckets() -> None:
    now = [0.0]
    limiter = RateLimiter(rate_per_s=2, burst=3, clock=lambda: now[0])
    assert [limiter.hit("a") for _ in range(3)] == [0, 0, 0]
    wait = limiter.hit("a")
    assert 0.49 < wait <= 0.5
    assert limiter.hit("b") == 0  # keys are independent
    now[0] += 0.5
    assert limiter.hit("a") == 0
    assert limiter.hit("a") > 0


def test_ingest_and_login_rate_limits(engine, db_url, policy, clock) -> None:  # type: ignore[no-untyped-def]
    import re

    from tests.conftest import start_server

    running = start_server(
        engine, db_url, policy, clock, ingest_burst=3, ingest_rate_per_s=0.01, login_burst=2, login_rate_per_min=0.1
    )
    try:
        with running.admin() as c:
            ingest = c.post("/api/v1/tokens", json={"kind": "ingest", "name": "any-source"}).json()["token"]
        with running.client(ingest) as c:
            codes = [
                c.post(
                    "/api/v1/ingest/events",
                    json={
                        "routing_key": ingest,
                        "event_action": "trigger",
                        "dedup_key": f"k{i}",
                        "payload": {"summary": "x", "source": "h", "severity": "info"},
                    },
                ).status_code
                for i in range(5)
            ]
            assert codes[:3] == [202, 202, 202] and codes[3:] == [429, 429], codes
            r = c.post("/api/v1/ingest/events", json={})
            assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
        with running.client() as web:
            statuses = []
            for _ in range(3):
                page = web.get("/login")
                csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
                assert csrf, page.text[:500]
                statuses.append(
                    web.post(
                        "/login", data={"csrf": csrf.group(1), "handle": "admin", "password": "wrong-password"}
                    ).status_code
                )
            assert statuses == [401, 401, 429], statuses
    finally:
        running.server.stop()
