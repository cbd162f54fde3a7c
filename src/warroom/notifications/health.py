"""The outbox's part of /healthz: channels that cannot deliver as configured, and dead rows."""

from __future__ import annotations

from warroom.core.hooks import Health
from warroom.core.state import AppState
from warroom.notifications.rules import setup_problems
from warroom.notifications.service import dead_count


def check(state: AppState, health: Health) -> None:
    health.warnings.extend(setup_problems(state.policy, slack_token=bool(state.settings.slack_token)))
    with state.read_sessions() as session:
        dead = dead_count(session)
    health.checks["notifications_dead"] = dead
    if dead:
        health.warnings.append(f"{dead} dead notification(s): GET /api/v1/notifications?state=dead, then retry them")
