"""The outbox's part of /healthz: channels that cannot deliver as configured, and dead rows."""

from __future__ import annotations

from warroom.core.hooks import Health
from warroom.core.state import AppState
from warroom.notifications.rules import setup_problems
from warroom.notifications.service import dead_count, failing_channels


def check(state: AppState, health: Health) -> None:
    """Dead rows warn; a channel that is failing now (messages in retry or dead) makes it degraded."""
    health.warnings.extend(setup_problems(state.policy, slack_token=bool(state.settings.slack_token)))
    with state.read_sessions() as session:
        dead = dead_count(session)
        failing = failing_channels(session)
    health.checks["notifications_dead"] = dead
    health.checks["notification_channels_failing"] = {
        t.channel: {"retrying": t.retrying, "waiting": t.waiting, "dead": t.dead, "last_error": t.last_error}
        for t in failing
    }
    if failing:
        health.worsen("degraded")
    for t in failing:
        if t.retrying:
            since = t.since.strftime("%H:%M:%S UTC") if t.since else "?"
            health.warnings.append(
                f"channel '{t.channel}' is failing: {t.retrying} message(s) in retry since {since}, "
                f"{t.waiting} waiting; last error: {t.last_error}"
            )
    if dead:
        health.warnings.append(f"{dead} dead notification(s): GET /api/v1/notifications?state=dead, then retry them")
