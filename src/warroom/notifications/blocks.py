"""Slack mrkdwn and Block Kit for a notification, inside Slack's limits: every text we did not write
is escaped (`&`, `<`, `>`), only our own mentions and http(s) links become markup."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

SECTION_LIMIT = 3000
TEXT_LIMIT = 40000
_MENTION = re.compile(r"<@([A-Z0-9]+)>")
_GROUP = re.compile(r"<!subteam\^([A-Z0-9]+)>")
_ESCAPED_MENTION = re.compile(r"&lt;(@[A-Z0-9]+|!subteam\^[A-Z0-9]+)&gt;")
_PARTIAL_ENTITY = re.compile(r"&[a-z]{0,3}$")
_EMOJI = re.compile(r"(?<![\w:]):[a-z][a-z0-9_+-]*:(?![\w:])\s?")
_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})

EMOJI = {
    "declared": ":rotating_light:",
    "resolved": ":white_check_mark:",
    "completed": ":checkered_flag:",
    "reminder": ":alarm_clock:",
    "escalation": ":sos:",
    "update": ":memo:",
    "page": ":pager:",
}


def cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def escape(text: object) -> str:
    """Slack's three control characters as entities: `<!here>` or `<url|label>` in a title stays text."""
    return str(text).translate(_ESCAPES)


def cut_escaped(text: str, limit: int) -> str:
    """`cut` for escaped text: never ends inside an entity (`&am…`)."""
    if len(text) <= limit:
        return text
    return _PARTIAL_ENTITY.sub("", text[: limit - 1]) + "…"


def safe_url(url: object) -> str | None:
    """The URL if it is absolute http(s) with no whitespace or control characters, else None."""
    if not isinstance(url, str) or not url or any(c.isspace() or ord(c) < 32 for c in url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    return url if parts.scheme.lower() in ("http", "https") and parts.netloc else None


def link(url: object, label: str) -> str | None:
    """`<url|label>` built from escaped parts (a `|` in the URL is percent-encoded); None unless http(s)."""
    safe = safe_url(url)
    if safe is None:
        return None
    return f"<{escape(safe).replace('|', '%7C')}|{escape(label)}>"


def mrkdwn(text: str, payload: dict[str, Any]) -> str:
    """The message as Slack mrkdwn: all of it escaped, then only the mentions warroom itself made
    (listed in the row's `mentions`) turned back into markup."""
    known: dict[str, str] = payload.get("mentions") or {}

    def mention(m: re.Match[str]) -> str:
        token = m.group(1)
        key = token[1:] if token.startswith("@") else token
        return f"<{token}>" if key in known else m.group(0)

    return _ESCAPED_MENTION.sub(mention, escape(text))


def header_line(payload: dict[str, Any]) -> str:
    """`*INC-7* P1 · SEV-2 · active — title` (mrkdwn, escaped), from the fields the outbox row carries."""
    if not payload.get("incident"):
        return ""
    prio, sev, state = (escape(payload.get(k, "")) for k in ("priority", "severity", "state"))
    return f"*{escape(payload['incident'])}* {prio} · {sev} · {state} — {escape(payload.get('title', ''))}"


def _open_link(payload: dict[str, Any]) -> str | None:
    return link(payload.get("link"), "open in warroom")


def message_blocks(event: str, text: str, payload: dict[str, Any]) -> list[dict[str, Any]]:
    """A section with the message and a context line linking to the incident."""
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": cut_escaped(mrkdwn(text, payload), SECTION_LIMIT)}},
    ]
    context = [f"{EMOJI.get(event, ':information_source:')} {event.replace('_', ' ')}"]
    if opened := _open_link(payload):
        context.append(opened)
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": " | ".join(context)}]})
    if buttons := message_buttons(event, payload):
        blocks.append({"type": "actions", "elements": buttons})
    return blocks


def button(action_id: str, label: str, value: str, style: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "type": "button",
        "action_id": action_id,
        "text": {"type": "plain_text", "text": label},
        "value": value[:2000],
    }
    if style:
        out["style"] = style
    return out


def message_buttons(event: str, payload: dict[str, Any]) -> list[dict[str, Any]]:
    """What a person can do from the message (/slack/events answers the clicks): a declare prompt
    asks Declare or Dismiss; a reminder carries Post update; a page, Acknowledge."""
    if event == "declare_prompt" and payload.get("alert_id") is not None:
        alert = str(payload["alert_id"])
        return [button("prompt_declare", "Declare", alert, "danger"), button("prompt_dismiss", "Dismiss", alert)]
    if event == "reminder" and payload.get("incident") and payload.get("state") != "completed":
        return [button("card_update", "Post update", str(payload["incident"]), "primary")]
    if event == "page" and payload.get("action") == "trigger" and payload.get("incident"):
        return [button("card_ack", "Acknowledge", str(payload["incident"]), "danger")]
    return []


def plain(text: str, payload: dict[str, Any]) -> str:
    """Text for non-Slack channels: Slack mentions become the handles they stand for, emoji codes go."""
    names: dict[str, str] = payload.get("mentions") or {}
    text = _GROUP.sub(lambda m: "@" + names.get("!subteam^" + m.group(1), m.group(1)), text)
    return _EMOJI.sub("", _MENTION.sub(lambda m: "@" + names.get(m.group(1), m.group(1)), text))
