"""The mirror's part of /healthz: paused on refused keys (degraded), and incidents it stopped mirroring."""

from __future__ import annotations

from warroom.core.hooks import Health
from warroom.core.state import AppState
from warroom.datadog import client, queries


def check(state: AppState, health: Health) -> None:
    if not client.enabled(state.settings):
        health.checks["datadog_mirror"] = "off"
        return
    with state.read_sessions() as session:
        status = queries.status(session)
    health.checks["datadog_mirror"] = status.as_dict()
    if status.paused:
        health.worsen("degraded")
        health.warnings.append(
            f"the Datadog mirror is paused since {status.paused_since:%H:%M:%S} UTC: Datadog refused our keys "
            f"({status.paused}); fix WARROOM_DATADOG_API_KEY / WARROOM_DATADOG_APP_KEY and it resumes"
        )
    if status.dead:
        health.warnings.append(f"{status.dead} incident(s) not mirrored to Datadog after an error: GET /api/v1/datadog")
