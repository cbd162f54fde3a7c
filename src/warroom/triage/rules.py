"""Pure triage rules: every decision carries a rule id and a reason a human can read."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from warroom.core.bounds import DB_INT_MAX
from warroom.policy.durations import format_duration
from warroom.policy.schema import PRIORITIES, Policy


@dataclass(frozen=True)
class Decision:
    value: str
    rule: str
    reason: str


def tier_for(policy: Policy, environment: str | None) -> Decision:
    tier = policy.tier_for_environment(environment)
    if environment and environment.strip().lower() in policy.environments:
        return Decision(str(tier), "tier-env", f"environment '{environment}' is Tier {tier}")
    shown = environment or "(none)"
    return Decision(str(tier), "tier-default", f"environment '{shown}' is not listed: Tier {tier}")


def priority_from_matrix(policy: Policy, tier: int, users_per_hour: int) -> Decision:
    """The tier x users/hour matrix; a cell applies above its threshold (strictly greater)."""
    row = policy.priority.tiers[tier]
    for threshold, prio in zip(policy.priority.thresholds, row, strict=True):
        if users_per_hour > threshold:
            return Decision(
                prio,
                f"matrix-t{tier}-gt{threshold}",
                f"Tier {tier} with {users_per_hour} users/hour (> {threshold}) is {prio}",
            )
    lowest = row[-1]
    return Decision(
        lowest,
        f"matrix-t{tier}-none",
        f"Tier {tier} with {users_per_hour} users/hour (no threshold passed) is at most {lowest}",
    )


def must_declare(policy: Policy, priority: str) -> bool:
    return priority in policy.must_declare


def higher(a: str, b: str) -> str:
    """The more urgent of two priorities (P1 beats P2)."""
    return a if PRIORITIES.index(a) <= PRIORITIES.index(b) else b


# ---- alert triage (pure: the ingest service feeds plain values in) ----------------------

_UNSET = ("", "none", "null", "n/a")


def _matches(want: str | list[str], have: str | None) -> bool:
    if have is None:
        return False
    values = {v.strip().lower() for v in have.split(",")}
    wanted = [want] if isinstance(want, str) else want
    return any(w == "*" or w.lower() in values for w in wanted)


def map_service(
    policy: Policy, *, source: str, labels: dict[str, str], monitor_id: str | None, title: str
) -> tuple[str, bool, Decision]:
    """Policy match rules first, then a label naming a known service, else the fallback."""
    for service in policy.services:
        for i, rule in enumerate(service.match):
            if rule.sources and source not in rule.sources:
                continue
            if rule.monitor_ids and (monitor_id or "") not in rule.monitor_ids:
                continue
            if rule.title_contains and rule.title_contains.lower() not in title.lower():
                continue
            if any(not _matches(v, labels.get(k)) for k, v in rule.tags.items()):
                continue
            if not (rule.tags or rule.monitor_ids or rule.sources or rule.title_contains):
                continue
            return (
                service.key,
                True,
                Decision(
                    service.key, f"service-match-{service.key}-{i}", f"matched rule {i} of service '{service.key}'"
                ),
            )
    known = {s.key for s in policy.services}
    for key in policy.triage.service_keys:
        value = (labels.get(key) or "").strip().lower()
        if value in known:
            return value, True, Decision(value, "service-label", f"label {key}={value} names a service")
    fallback = policy.triage.fallback_service
    return (
        fallback,
        False,
        Decision(fallback, "service-fallback", f"no service rule matched: fallback service '{fallback}'"),
    )


def environment_from(policy: Policy, labels: dict[str, str]) -> str | None:
    for key in policy.triage.environment_keys:
        value = (labels.get(key) or "").strip()
        if value and value.lower() not in _UNSET:
            return value.split(",")[0].strip()
    return None


def users_figure(policy: Policy, labels: dict[str, str]) -> tuple[int | None, str | None]:
    """A users/hour figure from the first configured label that holds a number in range, else
    None and why a number was not kept: `inf`, `1e400` or 2**63 is kept as unknown impact (the
    alert is stored with the reason) rather than failing the sender's whole batch."""
    problem = None
    for key in policy.triage.users_keys:
        raw = (labels.get(key) or "").replace(",", "").replace("_", "").strip()
        try:
            number = float(raw)
        except ValueError:
            continue
        if math.isnan(number) or number < 0:
            continue
        if number > DB_INT_MAX:
            problem = problem or f"{key} '{raw[:40]}' is out of range (0 to {DB_INT_MAX}): kept as unknown"
            continue
        return int(number), None
    return None, problem


def production_tier(policy: Policy) -> int:
    return min(policy.priority.tiers)


def is_production(policy: Policy, tier: int) -> bool:
    return tier == production_tier(policy)


def incident_tier(policy: Policy, tier: int | None) -> int:
    """An incident's grouping tier; one declared by a person (no tier) counts as production."""
    return production_tier(policy) if tier is None else tier


def alert_start(policy: Policy, *, sent: datetime | None, now: datetime) -> datetime:
    """When an alert started: the sender's time, never after `now`; one more than
    `triage.clock_skew` ahead of us comes from a wrong clock, so our receipt time counts."""
    if sent is None or sent > now + policy.triage.clock_skew:
        return now
    return min(sent, now)


def episode_start(
    policy: Policy, *, start: datetime, now: datetime, previous: tuple[datetime, datetime] | None
) -> datetime:
    """A re-fire within `triage.flap_window` of the previous alert's recovery continues its
    episode: `previous` is (that alert's resolved_at, its episode start)."""
    if previous is None or not policy.triage.flap_window:
        return start
    resolved_at, started = previous
    if now - resolved_at > policy.triage.flap_window:
        return start
    return min(started, start)


def escalation_due(policy: Policy, *, started: datetime, now: datetime) -> datetime:
    """The 15-minute rule counts from the episode's start (at once if that is long past)."""
    return max(now, started + policy.unknown_impact.escalation_window)


def cap(policy: Policy, tier: int, decision: Decision) -> Decision:
    """Non-production alerts are at most `triage.non_production_cap`."""
    limit = policy.triage.non_production_cap
    if is_production(policy, tier) or higher(decision.value, limit) == limit:
        return decision
    return Decision(
        limit, "non-production-cap", f"{decision.reason}; capped at {limit} because Tier {tier} is not production"
    )


def alert_priority(policy: Policy, *, tier: int, users: int | None, users_problem: str | None = None) -> Decision:
    """Matrix when a users figure is known, otherwise provisional (lowest cell of the tier)."""
    if users is not None:
        return cap(policy, tier, priority_from_matrix(policy, tier, users))
    row = policy.priority.tiers[tier]
    why = f" ({users_problem})" if users_problem else ""
    decision = Decision(
        row[-1], "unknown-impact-provisional", f"users affected unknown{why}: provisional {row[-1]} for Tier {tier}"
    )
    return cap(policy, tier, decision)


def escalates(policy: Policy, *, tier: int, users: int | None, priority: str) -> bool:
    """The 15-minute rule applies: unknown impact, an escalating tier, and room to rise."""
    rule = policy.unknown_impact
    return users is None and tier in rule.escalate_tiers and higher(priority, rule.escalate_to) != priority


def escalated(policy: Policy, *, tier: int, priority: str) -> Decision:
    rule = policy.unknown_impact
    shown = format_duration(rule.escalation_window)
    decision = Decision(
        higher(priority, rule.escalate_to),
        "unknown-impact-window",
        f"Tier {tier} alert kept firing for {shown} with users affected unknown: "
        f"likely over 1,000 users, {rule.escalate_to}",
    )
    return cap(policy, tier, decision)


def _tag_values(raw: str | None) -> set[str]:
    return {v.strip().lower() for v in (raw or "").split(",") if v.strip()}


def severity_for(policy: Policy, alerts: list[tuple[dict[str, str], int]]) -> Decision:
    """First severity rule whose distinct tag values reach `min_count` among the alerts."""
    for rule in policy.triage.severity_rules:
        values: set[str] = set()
        for labels, tier in alerts:
            if rule.production_only and not is_production(policy, tier):
                continue
            values |= _tag_values(labels.get(rule.distinct_tag))
        if len(values) >= rule.min_count:
            return Decision(
                rule.severity,
                f"severity-{rule.id}",
                f"{len(values)} distinct {rule.distinct_tag} value(s) "
                f"({', '.join(sorted(values))}) >= {rule.min_count}: {rule.severity}",
            )
    default = policy.triage.default_severity
    return Decision(default, "severity-default", f"no severity rule matched: {default}")


def adds_severity_values(policy: Policy, labels: dict[str, str], tier: int) -> bool:
    """Whether one more alert can change `severity_for`: only with a value of some rule's tag, at a tier it counts."""
    return any(
        _tag_values(labels.get(rule.distinct_tag))
        for rule in policy.triage.severity_rules
        if not (rule.production_only and not is_production(policy, tier))
    )


def severity_can_rise(policy: Policy, current: str) -> bool:
    """Whether `severity_for` can give anything more severe than `current` (no rule can past SEV-1)."""
    return any(
        more_severe(sev, current)
        for sev in [policy.triage.default_severity, *(r.severity for r in policy.triage.severity_rules)]
    )


def severity_tags(policy: Policy) -> list[str]:
    """The labels severity rules count distinct values of (what the database must read)."""
    return sorted({rule.distinct_tag for rule in policy.triage.severity_rules})


def more_severe(a: str, b: str) -> bool:
    """SEV-1 is more severe than SEV-2."""
    return a < b
