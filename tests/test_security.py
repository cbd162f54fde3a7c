"""Security headers and the rate limiter's arithmetic."""

from __future__ import annotations

from tests.support.server import Running
from warroom.api.security import RateLimiter


def test_headers(server: Running) -> None:
    with server.client() as c:
        r = c.get("/healthz")
        assert r.headers["x-content-type-options"] == "nosniff"
        docs = c.get("/docs")
        assert docs.headers["x-frame-options"] == "DENY"
        assert "frame-ancestors 'none'" in docs.headers["content-security-policy"]


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
