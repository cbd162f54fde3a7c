"""The Slack modals (Block Kit views) for declaring and posting an update: pure data, escaped.

Block ids are the use case's field names, so a refused field (`Invalid` details `field`) shows its
message under the right input (`response_action: errors`)."""

from __future__ import annotations

import json
from typing import Any

from warroom.notifications.blocks import cut, escape
from warroom.policy.schema import PRIORITIES, Policy

DECLARE = "incident_declare"
UPDATE = "incident_update"
PLAIN_LIMIT = 150  # plain_text of an option or a title


def _plain(text: str, limit: int = PLAIN_LIMIT) -> dict[str, Any]:
    return {"type": "plain_text", "text": cut(text, limit) or " ", "emoji": False}


def _option(value: str, label: str) -> dict[str, Any]:
    return {"text": _plain(label, 75), "value": value}


def matrix_text(policy: Policy) -> str:
    """The priority matrix as the web declare form shows it: tier x users/hour -> P-level."""
    heads = [f"> {t:,}/h" for t in policy.priority.thresholds]
    lines = ["*Priority matrix* (tier x users/hour):", "`tier  " + "  ".join(f"{h:>9}" for h in heads) + "`"]
    for tier in sorted(policy.priority.tiers):
        row = policy.priority.tiers[tier]
        lines.append(f"`{tier:<4}  " + "  ".join(f"{p:>9}" for p in row) + "`")
    return escape("\n".join(lines))


def _input(block_id: str, label: str, element: dict[str, Any], *, optional: bool = False, hint: str = "") -> dict:
    block: dict[str, Any] = {
        "type": "input",
        "block_id": block_id,
        "label": _plain(label),
        "element": element,
        "optional": optional,
    }
    if hint:
        block["hint"] = _plain(hint, 2000)
    return block


def declare_view(
    policy: Policy,
    *,
    commander_slack_id: str | None,
    services: list[str] | None = None,
    priority: str | None = None,
    severity: str | None = None,
    title: str = "",
    summary: str = "",
    alert_id: int | None = None,
    prompt: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Prefilled from an alert (declare prompt) or empty; the title's default is the policy template."""
    service_options = [_option(s.key, f"{s.name} ({s.key})") for s in policy.services][:100]
    if not service_options:
        service_options = [_option(policy.triage.fallback_service, policy.triage.fallback_service)]
    service_select: dict[str, Any] = {
        "type": "multi_static_select",
        "action_id": "value",
        "options": service_options,
        "placeholder": _plain("Services affected"),
    }
    chosen = [o for o in service_options if services and o["value"] in services]
    if chosen:
        service_select["initial_options"] = chosen
    prio_options = [_option(p, p) for p in PRIORITIES]
    prio: dict[str, Any] = {"type": "static_select", "action_id": "value", "options": prio_options}
    if priority in PRIORITIES:
        prio["initial_option"] = _option(priority, priority)
    sev_options = [_option(s.key, f"{s.key} {s.name}") for s in policy.severities][:100]
    sev: dict[str, Any] = {"type": "static_select", "action_id": "value", "options": sev_options}
    picked = next((o for o in sev_options if o["value"] == (severity or policy.triage.default_severity)), None)
    if picked:
        sev["initial_option"] = picked
    title_el: dict[str, Any] = {"type": "plain_text_input", "action_id": "value", "max_length": 500}
    if title:
        title_el["initial_value"] = cut(title, 500)
    commander: dict[str, Any] = {"type": "users_select", "action_id": "value"}
    if commander_slack_id:
        commander["initial_user"] = commander_slack_id
    summary_el: dict[str, Any] = {"type": "plain_text_input", "action_id": "value", "multiline": True}
    if summary:
        summary_el["initial_value"] = cut(summary, 3000)
    blocks = [
        _input("services", "Services", service_select),
        _input("priority", "Priority", prio, hint="Tier of the environment x users affected per hour, as below."),
        {"type": "context", "elements": [{"type": "mrkdwn", "text": matrix_text(policy)}]},
        _input("severity", "Severity", sev),
        _input(
            "title",
            "Title",
            title_el,
            optional=True,
            hint=f"Empty: the policy's template ({policy.title_template})",
        ),
        _input("commander", "Commander", commander, hint="Default: you. Must be a warroom user who may command."),
        _input("summary", "Summary", summary_el, optional=True),
    ]
    meta = {"alert_id": alert_id, "prompt": prompt or {}}
    return {
        "type": "modal",
        "callback_id": DECLARE,
        "title": _plain("Declare an incident", 24),
        "submit": _plain("Declare", 24),
        "close": _plain("Cancel", 24),
        "private_metadata": json.dumps(meta),
        "blocks": blocks,
    }


def update_view(ref: str, title: str, draft: str) -> dict[str, Any]:
    """Prefilled with the update draft (what changed since the last update)."""
    return {
        "type": "modal",
        "callback_id": UPDATE,
        "title": _plain(f"Update {ref}", 24),
        "submit": _plain("Post update", 24),
        "close": _plain("Cancel", 24),
        "private_metadata": json.dumps({"incident": ref}),
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": f"*{escape(ref)}* {escape(cut(title, 200))}"}},
            _input(
                "message",
                "Status update",
                {
                    "type": "plain_text_input",
                    "action_id": "value",
                    "multiline": True,
                    "initial_value": cut(draft, 3000),
                },
                hint="Posted in the incident's thread; the cadence clock restarts.",
            ),
        ],
    }
