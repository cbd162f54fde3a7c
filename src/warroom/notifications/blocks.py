"""Slack Block Kit for a notification, inside Slack's limits, with the plain text as fallback."""

from __future__ import annotations

import re
from typing import Any

SECTION_LIMIT = 3000
TEXT_LIMIT = 40000
_MENTION = re.compile(r"<@([A-Z0-9]+)>")
_EMOJI = re.compile(r"(?<![\w:]):[a-z][a-z0-9_+-]*:(?![\w:])\s?")

EMOJI = {
    "declared": ":rotating_light:",
    "resolved": ":white_check_mark:",
    "completed": ":checkered_flag:",
    "reminder": ":alarm_clock:",
    "escalation": ":sos:",
    "update": ":memo:",
}


def cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def header_line(payload: dict[str, Any]) -> str:
    """`*INC-7* P1 · SEV-2 · active — title`, from the incident fields the outbox row carries."""
    if not payload.get("incident"):
        return ""
    return (
        f"*{payload['incident']}* {payload.get('priority', '')} · {payload.get('severity', '')} · "
        f"{payload.get('state', '')} — {payload.get('title', '')}"
    )


def message_blocks(event: str, text: str, payload: dict[str, Any]) -> list[dict[str, Any]]:
    """A section with the message and a context line linking to the incident."""
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": cut(text, SECTION_LIMIT)}},
    ]
    context = [f"{EMOJI.get(event, ':information_source:')} {event.replace('_', ' ')}"]
    if payload.get("link"):
        context.append(f"<{payload['link']}|open in warroom>")
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": " | ".join(context)}]})
    return blocks


def root_blocks(payload: dict[str, Any]) -> list[dict[str, Any]]:
    """The thread's first message, rewritten by chat.update when state or severity changes."""
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": cut(header_line(payload), SECTION_LIMIT)}},
    ]
    fields = [f"*Commander:* {payload.get('commander', 'n/a')}"]
    if payload.get("link"):
        fields.append(f"<{payload['link']}|open in warroom>")
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": " | ".join(fields)}]})
    return blocks


def plain(text: str, payload: dict[str, Any]) -> str:
    """Text for non-Slack channels: Slack mentions become the handles they stand for, emoji codes go."""
    names: dict[str, str] = payload.get("mentions", {})
    return _EMOJI.sub("", _MENTION.sub(lambda m: "@" + names.get(m.group(1), m.group(1)), text))
