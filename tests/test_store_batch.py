"""The set-based store: a group-commit batch of events ends exactly where one event per
transaction would, and a re-delivery inside one batch is a duplicate (SQLite and PostgreSQL)."""

from __future__ import annotations

import uuid
from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from tests.conftest import T0
from tests.support.wired import HOOKS
from warroom.alerts.models import Alert, AlertEvent
from warroom.incidents.models import Incident, TimelineEntry
from warroom.ingest import parsers
from warroom.ingest.fastpath import store
from warroom.policy import Policy


def _event(
    key: str, status: str, note: str = "", *, service: str = "ssoe", env: str = "staging", **labels: str
) -> parsers.Incoming:
    """A Grafana-style event; `note` changes its content (a different event of the same alert)."""
    (item,), _ = parsers.parse(
        "grafana",
        {
            "alerts": [
                {
                    "status": status,
                    "fingerprint": key,
                    "labels": {"alertname": "Bench", "service": service, "env": env, **labels},
                    "annotations": {"summary": f"bench {key}", "note": note},
                }
            ]
        },
    )
    return item


def _ingest(
    sessions: sessionmaker[Session], policy: Policy, items: list[parsers.Incoming], minute: int = 0
) -> list[store.Outcome]:
    with sessions() as s:
        out = store.ingest(s, policy=policy, hooks=HOOKS, now=T0 + timedelta(minutes=minute), items=items)
        s.commit()
    return out


def _state(sessions: sessionmaker[Session], prefix: str) -> list[tuple[str, str, int, int]]:
    """Per key and alert cycle, in order: (key without prefix, status, events, cycle number)."""
    with sessions() as s:
        rows = s.execute(
            select(Alert.dedup_key, Alert.status, Alert.event_count, Alert.id)
            .where(Alert.dedup_key.like(f"{prefix}%"))
            .order_by(Alert.dedup_key, Alert.id)
        ).all()
        stored = s.scalar(
            select(func.count())
            .select_from(AlertEvent)
            .join(Alert, Alert.id == AlertEvent.alert_id)
            .where(Alert.dedup_key.like(f"{prefix}%"))
        )
    cycles: dict[str, int] = {}
    out = []
    for key, status, events, _ in rows:
        cycles[key] = cycles.get(key, 0) + 1
        out.append((key.removeprefix(prefix), status, events, cycles[key]))
    assert stored == sum(r[2] for r in out)
    return out


def test_a_redelivery_inside_one_batch_is_a_duplicate(sessions: sessionmaker[Session], policy: Policy) -> None:
    a, b = _event("k-a", "firing"), _event("k-b", "firing")
    out = _ingest(sessions, policy, [a, b, a, a])
    assert [(o.created, o.duplicate) for o in out] == [(True, False), (True, False), (False, True), (False, True)]
    assert out[0].alert_id == out[2].alert_id == out[3].alert_id != out[1].alert_id
    assert _state(sessions, "k-") == [("a", "firing", 1, 1), ("b", "firing", 1, 1)]


def test_fired_recovered_fired_in_one_batch_opens_a_second_cycle(
    sessions: sessionmaker[Session], policy: Policy
) -> None:
    fire, recover = _event("c-x", "firing"), _event("c-x", "resolved")
    out = _ingest(sessions, policy, [fire, recover, fire])  # the third is not a re-delivery of the first
    assert [(o.created, o.duplicate, o.status) for o in out] == [
        (True, False, "firing"),
        (False, False, "resolved"),
        (True, False, "firing"),
    ]
    assert out[0].alert_id == out[1].alert_id != out[2].alert_id
    assert _state(sessions, "c-") == [("x", "resolved", 2, 1), ("x", "firing", 1, 2)]


KEYS = st.sampled_from(["a", "b", "c"])
EVENTS = st.lists(
    st.tuples(KEYS, st.sampled_from(["firing", "resolved"]), st.sampled_from(["", "1", "2"])), min_size=1, max_size=12
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=st.lists(EVENTS, min_size=1, max_size=3))
def test_batches_end_where_one_event_per_transaction_ends(
    sessions: sessionmaker[Session], policy: Policy, batches: list[list[tuple[str, str, str]]]
) -> None:
    run = uuid.uuid4().hex[:8]
    for minute, batch in enumerate(batches):
        _ingest(sessions, policy, [_event(f"b{run}-{k}", status, note) for k, status, note in batch], minute)
        for k, status, note in batch:
            _ingest(sessions, policy, [_event(f"s{run}-{k}", status, note)], minute)
    assert _state(sessions, f"b{run}-") == _state(sessions, f"s{run}-")


def test_a_staging_storm_never_joins_a_production_incident_in_set_form(
    sessions: sessionmaker[Session], policy: Policy
) -> None:
    """The set-form join (ingest.joining: new alerts inserted already linked to their open incident)
    keeps grouping's environment rule. No lookahead here, so nothing but `joining.open_incident`
    and the (service, tier) keys decide which incident a storm joins."""
    [declared] = _ingest(sessions, policy, [_event("p-0", "firing", service="sis", env="prod", users_per_hour="5000")])
    assert declared.incident_id is not None  # P1 in production: declared, tier 1
    staging = [_event(f"s-{i}", "firing", service="sis") for i in range(5)]
    prod = [_event(f"p-{i}", "firing", service="sis", env="prod") for i in range(1, 4)]
    out = _ingest(sessions, policy, staging + prod, minute=1)
    assert [o.incident_id for o in out] == [None] * 5 + [declared.incident_id] * 3
    out = _ingest(sessions, policy, [_event(f"s2-{i}", "firing", service="sis") for i in range(4)], minute=2)
    assert {o.incident_id for o in out} == {None}  # a storm of staging alerts alone
    with sessions() as s:
        linked = s.scalars(select(Alert.environment).where(Alert.incident_id == declared.incident_id)).all()
        assert sorted(linked) == ["prod"] * 4
        assert s.scalar(select(Incident.tier).where(Incident.id == declared.incident_id)) == 1
        joined = s.scalars(
            select(TimelineEntry.data).where(
                TimelineEntry.incident_id == declared.incident_id, TimelineEntry.kind == "alert"
            )
        ).all()
    # the declaring alert's entry, then one entry for the three production alerts that joined together
    assert [d.get("count") for d in joined] == [None, 3]
