"""Plain-text message bodies per event; channels add their own formatting (Block Kit, email)."""

from __future__ import annotations

from datetime import datetime

from warroom.policy.durations import format_duration


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else "n/a"


def header(ref: str, title: str, state: str, priority: str, severity: str) -> str:
    return f"{ref} [{priority} {severity} {state}] {title}"


def declared(
    ref: str,
    title: str,
    *,
    state: str,
    priority: str,
    severity: str,
    commander: str,
    services: list[str],
    next_due: datetime | None,
    link: str,
) -> str:
    return (
        f":rotating_light: Incident declared: {header(ref, title, state, priority, severity)}\n"
        f"Commander: {commander} | Services: {', '.join(services)}\n"
        f"Next status update due {_when(next_due)}\n{link}"
    )


def update(
    ref: str,
    title: str,
    *,
    state: str,
    priority: str,
    severity: str,
    actor: str,
    message: str,
    next_due: datetime | None,
    automatic: bool,
) -> str:
    who = "automatic status update" if automatic else f"status update from {actor}"
    due = f"\nNext update due {_when(next_due)}" if next_due else ""
    return f"{header(ref, title, state, priority, severity)} ({who})\n{message}{due}"


def changed(ref: str, title: str, *, what: str, old: str, new: str, actor: str) -> str:
    return f"{ref} {title}: {what} changed {old} -> {new} by {actor}"


def resolved(ref: str, title: str, *, actor: str, duration: str, postmortem_link: str) -> str:
    return f":white_check_mark: {ref} resolved by {actor} after {duration}: {title}\nPostmortem: {postmortem_link}"


def completed(
    ref: str,
    title: str,
    *,
    actor: str,
    link: str,
    duration: str,
    severity: str,
    priority: str,
    impacts: str | None,
    users_impacted: int | None,
    postmortem_link: str,
) -> str:
    """For leadership: what it was, what it did to users, how long, and where the postmortem is."""
    users = f"{users_impacted:,} users impacted" if users_impacted is not None else "users impacted unknown"
    impact = (impacts or "not recorded").strip()
    return (
        f"{ref} completed by {actor}: {title}\n"
        f"Severity: {severity} ({priority}) | Duration: {duration} (first alert or declaration to resolution) | "
        f"{users}\nImpact: {impact}\nPostmortem: {postmortem_link}\n{link}"
    )


def age(now: datetime, then: datetime | None) -> str:
    return format_duration(now - then) if then else "n/a"
