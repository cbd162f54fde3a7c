"""The OOB deploy request lifecycle and form rules as data (pure: no database, no web)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

from warroom.core.errors import IllegalTransition
from warroom.policy.schema import OOB_CHECKLIST_ITEMS

STATES: Final = ("draft", "requested", "approved", "deployed", "verified", "rejected", "cancelled")
FINAL: Final = frozenset({"verified", "rejected", "cancelled"})

TRANSITIONS: Final[dict[str, frozenset[str]]] = {
    "draft": frozenset({"requested", "cancelled"}),
    "requested": frozenset({"approved", "rejected", "cancelled"}),
    "approved": frozenset({"deployed", "cancelled"}),
    "deployed": frozenset({"verified"}),
    "verified": frozenset(),
    "rejected": frozenset(),
    "cancelled": frozenset(),
}

# Timestamp / actor columns stamped when a request enters each state.
STAMPS: Final = {
    "requested": "requested",
    "approved": "approved",
    "deployed": "deployed",
    "verified": "verified",
    "rejected": "closed",
    "cancelled": "closed",
}

PLATFORM_SEVERITIES: Final = ("critical", "high", "moderate", "low")

# The platform team's checklist; the last two apply only when the change needs them.
CHECKLIST: Final = {
    "paging_incident": "Paging incident opened",
    "leadership_ack": "Engineering leadership acknowledged",
    "channels_notified": "Notice posted in the support and team channels",
    "infrastructure_ack": "Infrastructure acknowledged (proxy changes)",
    "security_review": "Security review (security-related changes)",
}
assert tuple(CHECKLIST) == OOB_CHECKLIST_ITEMS, "the policy names the same checklist items"
CHECKLIST_STATES: Final = frozenset({"requested", "approved", "deployed"})
EDITABLE_STATES: Final = frozenset({"draft"})


def allowed(state: str) -> list[str]:
    return sorted(TRANSITIONS.get(state, frozenset()), key=STATES.index)


def check_transition(current: str, target: str) -> None:
    """Raise IllegalTransition unless `current -> target` is in the table."""
    if target not in STATES:
        raise IllegalTransition(f"unknown OOB state '{target}'", {"allowed": allowed(current), "states": list(STATES)})
    if target not in TRANSITIONS[current]:
        reason = f"a {current} request is final" if current in FINAL else f"{current} -> {target} is not a legal move"
        raise IllegalTransition(
            f"cannot move OOB request from {current} to {target}: {reason}",
            {"from": current, "to": target, "allowed": allowed(current)},
        )


def missing_fields(form: dict[str, Any]) -> list[str]:
    """Form fields still blocking `requested`, by their API names."""
    missing: list[str] = []

    def blank(value: Any) -> bool:
        return value is None or (isinstance(value, str) and not value.strip())

    if not form.get("prs"):
        missing.append("prs")
    if form.get("platform_severity") not in PLATFORM_SEVERITIES:
        missing.append("platform_severity")
    if form.get("active_daily_users") is None:
        missing.append("active_daily_users")
    if form.get("fix_confirmed_in_staging") is None:
        missing.append("fix_confirmed_in_staging")
    elif form["fix_confirmed_in_staging"] is False and blank(form.get("not_confirmed_reason")):
        missing.append("not_confirmed_reason")
    for name in ("description", "reason", "validation_steps", "validated_by"):
        if blank(form.get(name)):
            missing.append(name)
    for name in ("confirm_after_cutoff", "confirm_cannot_wait", "confirm_postmortem"):
        if form.get(name) is not True:
            missing.append(name)
    return missing


def required_checklist(*, proxies_changed: bool, security_related: bool) -> list[str]:
    items = ["paging_incident", "leadership_ack", "channels_notified"]
    if proxies_changed:
        items.append("infrastructure_ack")
    if security_related:
        items.append("security_review")
    return items


def checklist_missing(checklist: dict[str, Any], *, proxies_changed: bool, security_related: bool) -> list[str]:
    return [
        item
        for item in required_checklist(proxies_changed=proxies_changed, security_related=security_related)
        if not (checklist.get(item) or {}).get("done")
    ]


def add_business_days(
    start: datetime, days: int, *, tz: str = "UTC", holidays: frozenset[date] = frozenset()
) -> datetime:
    """`days` working days after `start`, same local time of day; Saturdays, Sundays and
    holidays are skipped (in the team's time zone)."""
    zone = ZoneInfo(tz)
    local = start.astimezone(zone)
    day = local.date()
    counted = 0
    while counted < days:
        day += timedelta(days=1)
        if day.weekday() < 5 and day not in holidays:
            counted += 1
    result = datetime.combine(day, local.timetz().replace(tzinfo=None), tzinfo=zone)
    return result.astimezone(start.tzinfo or zone)
