"""The declare form's priority helper: tier and users/hour, or the unknown-impact rule of thumb."""

from __future__ import annotations

from datetime import timedelta

from warroom.policy.durations import format_duration
from warroom.policy.schema import Policy
from warroom.triage.rules import Decision, priority_from_matrix


def window_words(window: timedelta) -> str:
    """`15 minutes` rather than `15m 00s` for labels a person reads."""
    seconds = int(window.total_seconds())
    if seconds and seconds % 3600 == 0:
        return f"{seconds // 3600} hour{'s' if seconds != 3600 else ''}"
    if seconds and seconds % 60 == 0:
        return f"{seconds // 60} minute{'s' if seconds != 60 else ''}"
    return format_duration(window)


def priority_helper(policy: Policy, *, tier: int, users_per_hour: int | None, unknown: bool) -> Decision | None:
    """None when there is nothing to decide from yet (no figure and not ticked unknown)."""
    if tier not in policy.priority.tiers:
        return None
    if unknown:
        rule = policy.unknown_impact
        window = window_words(rule.escalation_window)
        top = policy.priority.thresholds[0]
        if tier in rule.escalate_tiers:
            return Decision(
                rule.escalate_to,
                f"unknown-impact-t{tier}",
                f"Tier {tier}, users unknown, firing for {window} or more: likely over {top} "
                f"users/hour, so {rule.escalate_to}",
            )
        assumed = priority_from_matrix(policy, tier, top + 1)
        return Decision(
            assumed.value,
            f"unknown-impact-t{tier}-matrix",
            f"Tier {tier}, users unknown, firing for {window} or more: assumed over {top} "
            f"users/hour, so {assumed.value}",
        )
    if users_per_hour is None or users_per_hour < 0:
        return None
    return priority_from_matrix(policy, tier, users_per_hour)
