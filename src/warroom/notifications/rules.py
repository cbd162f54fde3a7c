"""Pure delivery rules: how long to wait before a retry, and how fast a channel may send."""

from __future__ import annotations

import random
from datetime import timedelta

from warroom.policy.schema import Channel, Notifications, Policy


def backoff(
    attempts: int, cfg: Notifications, *, retry_after: float | None = None, rand: random.Random | None = None
) -> timedelta:
    """Exponential from `backoff_base`, capped at `backoff_max`, +/- `jitter`; never sooner than Retry-After."""
    rng = rand or random
    base = cfg.backoff_base.total_seconds() * (2 ** max(0, min(attempts - 1, 30)))
    capped = min(base, cfg.backoff_max.total_seconds())
    delay = capped * (1 + rng.uniform(-cfg.jitter, cfg.jitter))
    if retry_after is not None:
        delay = max(delay, retry_after)
    return timedelta(seconds=max(0.0, delay))


def method_pause(retry_after: float | None, cfg: Notifications) -> timedelta:
    """How long every worker leaves a Slack method alone after its 429: Slack's Retry-After
    (`backoff_base` when it gave none), never beyond `retry_for` (a broken header cannot stop it for good)."""
    wait = cfg.backoff_base.total_seconds() if retry_after is None else retry_after
    return timedelta(seconds=min(max(wait, 0.0), cfg.retry_for.total_seconds()))


def pace(chan: Channel, cfg: Notifications) -> timedelta:
    """Minimum gap between two messages on one channel (0 = unpaced)."""
    if chan.pace is not None:
        return chan.pace
    if chan.type in ("slack", "slack_webhook"):
        return cfg.slack_pace
    return timedelta(0)


def gives_up(attempts: int, cfg: Notifications, *, age: timedelta = timedelta(0)) -> bool:
    """Dead once retried for `retry_for` since it was queued (or after `max_attempts`, when set)."""
    return age >= cfg.retry_for or (cfg.max_attempts is not None and attempts >= cfg.max_attempts)


def setup_problems(policy: Policy, *, slack_token: bool) -> list[str]:
    """Channels the process cannot deliver to as configured: said at start and on /healthz,
    because their notifications would otherwise only show up later as dead rows."""
    routed = {name for names in policy.routes.values() for name in names}
    problems = []
    for name, chan in sorted(policy.channels.items()):
        if chan.type == "slack" and not slack_token and name in routed:
            problems.append(
                f"channel '{name}' ({chan.channel}) is Slack but WARROOM_SLACK_TOKEN is not "
                "set: its notifications go dead until it is (then retry them)"
            )
    return problems
