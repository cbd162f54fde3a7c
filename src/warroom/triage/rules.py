"""Pure triage rules: every decision carries a rule id and a reason a human can read."""

from __future__ import annotations

from dataclasses import dataclass

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
