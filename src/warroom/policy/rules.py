"""Settings that are valid but silently turn a rule of the process off: `warroom policy check` says so (pure)."""

from __future__ import annotations

from warroom.policy.schema import Policy

# Without a route these events are written to the outbox for nobody: the process step never reaches a person.
ANNOUNCED = {
    "declared": "incident declarations",
    "update": "status updates",
    "reminder": "status update reminders",
    "escalation": "escalations after missed updates",
}


def _production_tiers(policy: Policy) -> set[int]:
    """The tiers whose alerts matter most: tier 1, and the tier of any production environment."""
    named = {tier for env, tier in policy.environments.items() if env.lower() in ("production", "prod")}
    return ({1} & set(policy.priority.tiers)) | named


def warnings(policy: Policy) -> list[str]:
    found = []
    unknown = policy.unknown_impact
    tiers = set(policy.priority.tiers)
    missing = sorted(_production_tiers(policy) - set(unknown.escalate_tiers))
    if not unknown.escalate_tiers:
        found.append(
            "unknown_impact.escalate_tiers is empty: the 15-minute rule is off (an alert with no user figure "
            "never escalates, whatever its tier)"
        )
    elif missing:
        found.append(
            f"unknown_impact.escalate_tiers {sorted(unknown.escalate_tiers)} leaves out tier "
            f"{', '.join(map(str, missing))} (production): the 15-minute rule is off for its alerts with no "
            f"user figure (they never become {unknown.escalate_to})"
        )
    for tier in sorted(set(unknown.escalate_tiers) - tiers):
        found.append(f"unknown_impact.escalate_tiers: tier {tier} has no row in priority.tiers, so it never matches")
    for tier in sorted(set(policy.status_page.alert_tiers) - tiers):
        found.append(f"status_page.alert_tiers: tier {tier} has no row in priority.tiers, so it never matches")
    if not policy.triage.environment_keys:
        found.append(
            "triage.environment_keys is empty: no alert has an environment, so every alert is "
            f"default_tier {policy.default_tier} and staging alerts group with production ones"
        )
    if not policy.triage.flap_window:
        found.append(
            "triage.flap_window is 0: a flapping alert (firing, recovering for seconds, firing again) "
            "starts its 15-minute clock over at each re-fire and never escalates"
        )
    if not policy.triage.auto_declare:
        found.append("triage.auto_declare is false: alerts never declare incidents, whatever must_declare says")
    elif not policy.must_declare:
        found.append("must_declare is empty: no alert ever declares an incident by itself")
    for event, what in ANNOUNCED.items():
        if not policy.routes.get(event):
            found.append(f"routes.{event} is missing or empty: {what} are sent to no channel")
    for priority in ("P1", "P2", "P3", "P4"):
        if policy.cadence_for(priority) <= policy.cadence.remind_before:
            found.append(
                f"cadence: the {priority} cadence is not longer than cadence.remind_before: its reminder "
                "goes out as soon as the clock starts"
            )
    return found
