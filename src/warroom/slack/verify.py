"""Slack's request signature (v0: HMAC-SHA256 over `v0:timestamp:body`, 5-minute window)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from slack_sdk.signature import Clock, SignatureVerifier

WINDOW_S = 300  # Slack's documented replay window; slack_sdk checks the same


class _Clock(Clock):
    """The process clock (a test's FakeClock) for the replay window."""

    def __init__(self, now: Callable[[], float]) -> None:
        self._now = now

    def now(self) -> float:
        return self._now()


def problem(secret: str | None, headers: Mapping[str, str], body: bytes, *, now: Callable[[], float]) -> str | None:
    """Why the request is not Slack's (None when it is): never the body, which may hold anything."""
    if not secret:
        return "WARROOM_SLACK_SIGNING_SECRET is not set"
    timestamp = headers.get("x-slack-request-timestamp")
    signature = headers.get("x-slack-signature")
    if not timestamp or not signature:
        return "unsigned"
    try:
        age = abs(now() - int(timestamp))
    except ValueError:
        return "bad timestamp"
    if age > WINDOW_S:
        return f"stale ({int(age)}s old)"
    if not SignatureVerifier(secret, clock=_Clock(now)).is_valid(body, timestamp, signature):
        return "wrong signature"
    return None
