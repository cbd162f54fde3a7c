"""Pure triage rules and parsers: every decision has a rule id; no database needed."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.support.alerts import payload
from warroom.ingest import parsers
from warroom.policy import reference_policy
from warroom.triage import rules

P = reference_policy()


@pytest.mark.parametrize(
    ("tier", "users", "want", "rule"),
    [
        (1, 1001, "P1", "matrix-t1-gt1000"),
        (1, 1000, "P2", "matrix-t1-gt100"),
        (1, 101, "P2", "matrix-t1-gt100"),
        (1, 1, "P3", "matrix-t1-gt0"),
        (1, 0, "P3", "matrix-t1-none"),
        (2, 5000, "P3", "non-production-cap"),
        (2, 500, "P3", "matrix-t2-gt100"),
        (3, 5000, "P3", "matrix-t3-gt1000"),
        (3, 50, "P4", "matrix-t3-gt0"),
        (1, None, "P3", "unknown-impact-provisional"),
        (2, None, "P4", "unknown-impact-provisional"),
    ],
)
def test_alert_priority(tier: int, users: int | None, want: str, rule: str) -> None:
    d = rules.alert_priority(P, tier=tier, users=users)
    assert (d.value, d.rule) == (want, rule) and d.reason


def test_escalation_only_for_production_with_unknown_impact() -> None:
    assert rules.escalates(P, tier=1, users=None, priority="P3")
    assert not rules.escalates(P, tier=1, users=10, priority="P3")
    assert not rules.escalates(P, tier=2, users=None, priority="P4")
    assert not rules.escalates(P, tier=1, users=None, priority="P1")
    d = rules.escalated(P, tier=1, priority="P3")
    assert (d.value, d.rule) == ("P1", "unknown-impact-window")


@pytest.mark.parametrize(
    ("labels", "service", "mapped", "rule"),
    [
        ({"service": "sis"}, "sis", True, "service-match-sis-0"),
        ({"csp": "idme"}, "csp", True, "service-match-csp-1"),
        ({"team": "billing"}, "unmapped", False, "service-fallback"),
    ],
)
def test_map_service(labels: dict[str, str], service: str, mapped: bool, rule: str) -> None:
    got, is_mapped, d = rules.map_service(P, source="datadog", labels=labels, monitor_id=None, title="x")
    assert (got, is_mapped, d.rule) == (service, mapped, rule)


def test_severity_rules_count_distinct_csp_in_production() -> None:
    one = rules.severity_for(P, [({"csp": "logingov"}, 1), ({"csp": "logingov"}, 1)])
    two = rules.severity_for(P, [({"csp": "logingov"}, 1), ({"csp": "idme"}, 1)])
    staging = rules.severity_for(P, [({"csp": "logingov,idme"}, 2)])
    assert (one.value, one.rule) == ("SEV-2", "severity-single-csp")
    assert (two.value, two.rule) == ("SEV-1", "severity-multi-csp")
    assert (staging.value, staging.rule) == ("SEV-3", "severity-default")


def test_users_and_environment_from_labels() -> None:
    assert rules.users_figure(P, {"users_affected": "1,200"})[0] == 1200
    assert rules.users_figure(P, {"users_per_hour": "lots"})[0] is None
    assert rules.environment_from(P, {"environment": "eks-prod"}) == "eks-prod"
    assert rules.environment_from(P, {}) is None


def test_datadog_title_prefixes() -> None:
    [a] = parsers.parse_datadog({"title": "[P1] [Re-No Data on {host:a}] Disk", "id": "1"})
    assert (a.transition, a.status, a.priority_hint, a.title) == ("Re-No Data", "firing", "P1", "Disk")
    assert a.labels["host"] == "a"
    [b] = parsers.parse_datadog({"title": "[Recovered on {host:a}] Disk", "id": "2"})
    assert b.dedup_key == a.dedup_key and b.status == "resolved"


def test_datadog_unfilled_template_variables_are_missing() -> None:
    body = payload("datadog_rich_triggered")
    body["cycle_key"] = "$ALERT_CYCLE_KEY"
    [a] = parsers.parse_datadog(body)
    assert a.dedup_key == "48213771:env:eks-prod,service:sis"
    assert a.occurred_at == datetime(2026, 10, 5, 8, 59, 40, tzinfo=UTC)


def test_alertmanager_decides_on_status_not_endsat() -> None:
    items, truncated = parsers.parse_alertmanager(payload("alertmanager_firing"))
    assert [i.status for i in items] == ["firing", "firing"] and truncated == 0
    assert items[0].occurred_at == datetime(2026, 10, 5, 8, 58, 30, 123000, tzinfo=UTC)


def test_event_timestamp_and_details() -> None:
    e = parsers.parse_event(payload("events_trigger"))
    assert e.labels["service"] == "mpi" and e.labels["users_per_hour"] == "2400"
    assert e.occurred_at == datetime(2026, 10, 5, 8, 59, 10, tzinfo=UTC)
    assert "routing_key" not in e.raw


def test_triage_memo_decides_exactly_like_triage() -> None:
    """The hot path's memo keys on only what the rules read; over varied events (title and
    monitor rules included) it must never return another event's decision."""
    from importlib import resources

    import yaml
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from warroom.ingest.service import TriageMemo, triage
    from warroom.policy.schema import Policy

    raw = yaml.safe_load(resources.files("warroom.policy").joinpath("reference.yaml").read_text())
    raw["services"][0]["match"].append({"title_contains": "login.gov"})
    raw["services"][1]["match"].append({"monitor_ids": ["m-7"], "sources": ["datadog"]})
    policies = [P, Policy.model_validate(raw)]
    memos = [TriageMemo(p, size=64) for p in policies]  # small: the clearing path runs too
    values = st.sampled_from(
        [
            "sis",
            "usip",
            "ssoe",
            "idme",
            "prod",
            "production",
            "staging",
            "dev",
            "",
            "none",
            "1500",
            "50",
            "2,000",
            "lots",
        ]
    )
    keys = st.sampled_from(
        ["service", "env", "environment", "csp", "users_per_hour", "users_affected", "host", "region"]
    )

    @settings(max_examples=400, deadline=None)
    @given(
        source=st.sampled_from(parsers.SOURCES),
        labels=st.dictionaries(keys, values, max_size=5),
        monitor=st.sampled_from([None, "m-7", "m-8"]),
        title=st.sampled_from(["CPU high", "login.gov errors", "LOGIN.GOV down", "sis 5xx"]),
    )
    def check(source: str, labels: dict[str, str], monitor: str | None, title: str) -> None:
        item = parsers.Incoming(
            source=source, dedup_key="k", status="firing", title=title, labels=labels, monitor_id=monitor
        )
        for policy, memo in zip(policies, memos, strict=True):
            assert memo(item) == triage(policy, item)

    check()


def test_bulk_inserts_match_their_tables() -> None:
    """The ingest batch's hand-written INSERTs name real columns and every required one."""
    from warroom.ingest.fastpath import bulk
    from warroom.models import Base

    for statement in (bulk.ALERTS, bulk.EVENTS, bulk.NEW_EVENTS, bulk.DUE):
        table = Base.metadata.tables[statement.table]
        assert set(statement.names) <= set(table.c.keys()), statement.table
        required = {
            c.name
            for c in table.c
            if not c.nullable and not c.primary_key and c.default is None and c.server_default is None
        }
        assert required <= set(statement.names), (statement.table, required - set(statement.names))
        assert set(statement.returning) <= set(table.c.keys())


NOW = datetime(2026, 10, 5, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("sent", "started"),
    [
        (None, NOW),
        (datetime(2026, 10, 5, 8, 40, tzinfo=UTC), datetime(2026, 10, 5, 8, 40, tzinfo=UTC)),
        (datetime(2026, 10, 4, 9, 0, tzinfo=UTC), datetime(2026, 10, 4, 9, 0, tzinfo=UTC)),  # long firing
        (datetime(2026, 10, 5, 9, 5, tzinfo=UTC), NOW),  # at the skew limit: now
        (datetime(2026, 10, 5, 9, 5, 1, tzinfo=UTC), NOW),  # past it: a wrong clock, receipt time
    ],
)
def test_alert_start_bounded_by_clock_skew(sent: datetime | None, started: datetime) -> None:
    assert rules.alert_start(P, sent=sent, now=NOW) == started


def test_episode_start_and_escalation_due() -> None:
    first = datetime(2026, 10, 5, 8, 50, tzinfo=UTC)
    within = (datetime(2026, 10, 5, 8, 56, tzinfo=UTC), first)  # recovered 4 minutes ago
    after = (datetime(2026, 10, 5, 8, 54, 59, tzinfo=UTC), first)  # just over the 5m flap window
    assert rules.episode_start(P, start=NOW, now=NOW, previous=within) == first
    assert rules.episode_start(P, start=NOW, now=NOW, previous=after) == NOW
    assert rules.episode_start(P, start=NOW, now=NOW, previous=None) == NOW
    off = P.model_copy(update={"triage": P.triage.model_copy(update={"flap_window": 0})})
    assert rules.episode_start(off, start=NOW, now=NOW, previous=within) == NOW
    assert rules.escalation_due(P, started=first, now=NOW) == datetime(2026, 10, 5, 9, 5, tzinfo=UTC)
    assert rules.escalation_due(P, started=datetime(2026, 10, 5, 8, 0, tzinfo=UTC), now=NOW) == NOW


def test_incident_tier() -> None:
    """Which alerts hold an incident open is SQL (`grouping.holding_open`): test_ingest_grouping."""
    assert rules.incident_tier(P, None) == 1  # declared by a person: production
    assert rules.incident_tier(P, 2) == 2


def test_grafana_legacy_parse() -> None:
    [item] = parsers.parse("grafana", payload("grafana_legacy_alerting"))[0]
    assert (item.status, item.dedup_key, item.transition) == ("firing", "legacy:1:12", "alerting")
    assert item.labels["service"] == "csp" and item.labels["csp"] == "logingov" and item.occurred_at is None
    no_data = parsers.parse("grafana", {**payload("grafana_legacy_alerting"), "state": "no_data"})[0]
    assert no_data[0].status == "firing"
    assert parsers.parse("grafana", {**payload("grafana_legacy_alerting"), "state": "paused"}) == ([], 0)
    with pytest.raises(parsers.BadPayload, match="ruleId"):
        parsers.parse("grafana", {"state": "ok", "evalMatches": []})


def test_datadog_episode_key_survives_cycles() -> None:
    body = payload("datadog_rich_triggered")
    [one] = parsers.parse_datadog(body)
    [two] = parsers.parse_datadog({**body, "cycle_key": "another-cycle"})
    assert one.dedup_key != two.dedup_key and one.episode == two.episode == "48213771:env:eks-prod,service:sis"
    [plain] = parsers.parse_alertmanager(payload("alertmanager_firing"))[0][:1]
    assert plain.episode == plain.dedup_key
