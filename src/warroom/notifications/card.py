"""The incident card: the incident's first Slack message, rendered from the outbox row's `card`
payload and edited in place (chat.update) on every change, so the channel always shows the truth.

Every text we did not write is escaped (`blocks.escape`); the header is plain_text (never markup)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from warroom.notifications.blocks import button, cut_escaped, escape, link

CARD_EVENT = "card"
HEADER_LIMIT = 150
FIELD_LIMIT = 2000


def _due(value: str | None) -> str:
    if not value:
        return "none (not open)"
    when = datetime.fromisoformat(value)
    return f"<!date^{int(when.timestamp())}^{{date_short_pretty}} {{time}}|{when:%Y-%m-%d %H:%M} UTC>"


def _commander(card: dict[str, Any]) -> str:
    slack_id = card.get("commander_slack_id")
    if slack_id and str(slack_id).isalnum():
        return f"<@{slack_id}>"
    return escape(card.get("commander") or "n/a")


def buttons(card: dict[str, Any]) -> list[dict[str, Any]]:
    """Post update, Acknowledge (while unacknowledged), Mark stable, Resolve or Complete (once resolved: the
    commander's, refused with what is missing), Take command; none once completed."""
    state, ref = card.get("state"), str(card.get("ref", ""))
    if state == "completed" or not ref:
        return []
    out = [button("card_update", "Post update", ref, "primary")]
    if not card.get("acknowledged"):
        out.append(button("card_ack", "Acknowledge", ref))
    if state == "active":
        out.append(button("card_stable", "Mark stable", ref))
    if state in ("active", "stable"):
        out.append(button("card_resolve", "Resolve", ref, "danger"))
    if state == "resolved":
        out.append(button("card_complete", "Complete", ref))
    out.append(button("card_take", "Take command", ref))
    return out


def text(card: dict[str, Any]) -> str:
    """The notification text (and fallback) of a card: one escaped line."""
    return (
        f"{escape(card.get('ref', ''))} [{escape(card.get('priority', ''))} {escape(card.get('severity', ''))} "
        f"{escape(card.get('state', ''))}] {escape(card.get('title', ''))}"
    )


def blocks(card: dict[str, Any]) -> list[dict[str, Any]]:
    # plain_text is not markup, but escaped all the same: no client may ever read `<!here>` in it
    header = cut_escaped(escape(f"{card.get('ref', '')} {card.get('title', '')}"), HEADER_LIMIT)
    fields = [
        ("State", escape(card.get("state", ""))),
        ("Priority", escape(card.get("priority", ""))),
        ("Severity", escape(card.get("severity", ""))),
        ("Commander", _commander(card)),
        ("Services", escape(", ".join(card.get("services") or []) or "n/a")),
        ("Next update due", _due(card.get("next_due"))),
    ]
    fields += [(escape(label), escape(value)) for label, value in card.get("extra") or []][:3]
    opened = link(card.get("link"), "open in warroom")
    if opened:
        fields.append(("Link", opened))
    out: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": header or " ", "emoji": False}},
        {
            "type": "section",
            "fields": [
                {"type": "mrkdwn", "text": cut_escaped(f"*{label}*\n{value}", FIELD_LIMIT)} for label, value in fields
            ][:10],
        },
    ]
    if actions := buttons(card):
        out.append({"type": "actions", "block_id": "card_actions", "elements": actions})
    return out
