"""Security headers on every response, a strict CSP on HTML, and in-process rate limits."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'self'; "
    "object-src 'none'"
)
# Swagger UI at /docs loads its bundle from a CDN and boots with an inline script.
DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; img-src 'self' data: "
    "https://fastapi.tiangolo.com; frame-ancestors 'none'"
)


class SecurityHeaders:
    """Pure ASGI: adds headers without buffering bodies (so streaming responses still stream)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {k.lower() for k, _ in headers}
                ctype = next((v for k, v in headers if k.lower() == b"content-type"), b"")
                add = [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"same-origin")]
                if ctype.startswith(b"text/html"):
                    csp = DOCS_CSP if path.startswith(("/docs", "/redoc")) else CSP
                    add += [(b"x-frame-options", b"DENY"), (b"content-security-policy", csp.encode())]
                headers += [(k, v) for k, v in add if k not in names]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


class RateLimiter:
    """Token buckets per key (a token, an address, a login name). Per process: with N API
    processes the effective limit is N times this, which still stops floods and guessing."""

    def __init__(self, rate_per_s: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate_per_s
        self.burst = burst
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str, cost: float = 1.0) -> float:
        """Take `cost` from the key's bucket; returns 0 if allowed, else seconds to wait."""
        now = self.clock()
        with self._lock:
            tokens, last = self._buckets.get(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.rate)
            if tokens >= cost:
                self._buckets[key] = (tokens - cost, now)
                if len(self._buckets) > 100_000:
                    self._buckets.clear()  # bounded memory under a key-spraying attack
                return 0.0
            self._buckets[key] = (tokens, now)
            return max(0.001, (cost - tokens) / self.rate)


def retry_after_header(wait: float) -> dict[str, str]:
    return {"Retry-After": str(max(1, math.ceil(wait)))}


def limiter(state: object, name: str) -> RateLimiter:
    """The process-wide limiter `ingest` or `login`, built from settings on first use."""
    extras: dict[str, RateLimiter] = state.extras  # type: ignore[attr-defined]
    found = extras.get(f"limiter:{name}")
    if found is None:
        settings = state.settings  # type: ignore[attr-defined]
        if name == "ingest":
            found = RateLimiter(settings.ingest_rate_per_s, settings.ingest_burst)
        else:
            found = RateLimiter(settings.login_rate_per_min / 60.0, settings.login_burst)
        extras[f"limiter:{name}"] = found
    return found
