"""The incident lifecycle as data: which state may follow which."""

from __future__ import annotations

from typing import Final

from warroom.core.errors import IllegalTransition

STATES: Final = ("active", "stable", "resolved", "completed")
OPEN_STATES: Final = frozenset({"active", "stable"})

TRANSITIONS: Final[dict[str, frozenset[str]]] = {
    "active": frozenset({"stable", "resolved"}),
    "stable": frozenset({"active", "resolved"}),
    "resolved": frozenset({"active", "completed"}),
    "completed": frozenset(),
}

# The timestamp recorded the first time an incident enters each state.
STAMPS: Final = {"stable": "stable_at", "resolved": "resolved_at", "completed": "completed_at"}


def allowed(state: str) -> list[str]:
    return sorted(TRANSITIONS.get(state, frozenset()), key=STATES.index)


def check_transition(current: str, target: str) -> None:
    """Raise IllegalTransition unless `current -> target` is in the table."""
    if target not in STATES:
        raise IllegalTransition(f"unknown state '{target}'", {"allowed": allowed(current), "states": list(STATES)})
    if target not in TRANSITIONS[current]:
        if current == "completed":
            reason = "a completed incident is final"
        else:
            reason = f"{current} -> {target} is not a legal move"
        raise IllegalTransition(
            f"cannot move from {current} to {target}: {reason}",
            {"from": current, "to": target, "allowed": allowed(current)},
        )


def missing_for_completion(
    *,
    required: list[str],
    users_impacted: int | None,
    impacts: str | None,
    detection_method: str | None,
    postmortem: str | None,
) -> list[str]:
    """What still blocks `completed`, in words a commander can act on."""
    values = {
        "users_impacted": users_impacted,
        "impacts": (impacts or "").strip() or None,
        "detection_method": (detection_method or "").strip() or None,
    }
    missing = [f for f in required if f != "postmortem" and values.get(f) is None]
    if "postmortem" in required:
        if not postmortem or not postmortem.strip():
            missing.append("postmortem")
        elif "TODO" in postmortem:
            missing.append("postmortem (still has TODO sections)")
    return missing
