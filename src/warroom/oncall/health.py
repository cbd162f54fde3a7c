"""On call's part of /healthz and /metrics: external schedules that fail, names that match no user."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from prometheus_client.core import GaugeMetricFamily, Metric
from sqlalchemy.orm import Session

from warroom.core.hooks import Health
from warroom.core.state import AppState
from warroom.oncall import service


def check(state: AppState, health: Health) -> None:
    """Degraded while an external schedule fails (its last answer is used); warnings for unknown members."""
    policy = state.policy
    if not policy.schedules:
        return
    with state.read_sessions() as session:
        rows = {r.schedule: r for r in service.source_rows(session)}
        unknown = service.unknown_members(session, policy)
    sources: dict[str, str] = {}
    for name, spec in policy.schedules.items():
        if spec.kind == "rotation":
            continue
        row = rows.get(name)
        if row is None or row.fingerprint != service.fingerprint(spec) or row.checked_at is None:
            sources[name] = "not fetched yet"
        elif row.error:
            sources[name] = f"failing: {row.error}"
            health.worsen("degraded")
            since = f"the answer of {row.fetched_at:%Y-%m-%d %H:%M} UTC" if row.fetched_at else "no answer yet"
            health.warnings.append(
                f"on-call schedule '{name}' ({spec.kind}) failed {row.failures} time(s): {row.error}; using {since}"
            )
        else:
            sources[name] = "ok"
    if sources:
        health.checks["oncall_sources"] = sources
    for where, handle in unknown:
        health.warnings.append(f"on call: {where} names '{handle}', who is no active warroom user")


def gauges(session: Session, now: datetime) -> Iterator[Metric]:
    up = GaugeMetricFamily(
        "warroom_oncall_source_up", "1 if an external schedule's last fetch worked", labels=["schedule", "kind"]
    )
    age = GaugeMetricFamily(
        "warroom_oncall_source_answer_age_seconds",
        "Seconds since an external schedule's last good answer (-1: never)",
        labels=["schedule", "kind"],
    )
    failures = GaugeMetricFamily(
        "warroom_oncall_source_failures", "Failed fetches in a row per external schedule", labels=["schedule", "kind"]
    )
    for row in service.source_rows(session):
        labels = [row.schedule, row.kind]
        up.add_metric(labels, 0.0 if row.error or row.checked_at is None else 1.0)
        age.add_metric(labels, max((now - row.fetched_at).total_seconds(), 0.0) if row.fetched_at else -1.0)
        failures.add_metric(labels, float(row.failures))
    yield up
    yield age
    yield failures
    yield GaugeMetricFamily(
        "warroom_oncall_overrides", "Overrides not over yet", value=float(service.override_count(session, now=now))
    )
