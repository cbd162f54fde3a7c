"""The Slack app manifest: one request URL for the command, interactivity and events, and the bot
scopes warroom uses, so setting up is "create app from manifest, paste two secrets"."""

from __future__ import annotations

from typing import Any

from warroom.policy.schema import Policy
from warroom.slack.entry import PATH

# chat:write (post, update), commands (the slash command), users:read (users_select),
# channels:manage + channels:read (an incident's own channel: create, invite, topic, archive),
# bookmarks:write (the warroom page in that channel), groups:read (private channels' names).
SCOPES = (
    "chat:write",
    "chat:write.public",
    "commands",
    "users:read",
    "channels:read",
    "channels:manage",
    "bookmarks:write",
)


def manifest(policy: Policy, url: str) -> dict[str, Any]:
    base = url.rstrip("/")
    request_url = f"{base}{PATH}"
    return {
        "display_information": {
            "name": "warroom",
            "description": f"Incident response for {policy.team}: declare, update and resolve from Slack",
            "background_color": "#8b1a1a",
        },
        "features": {
            "bot_user": {"display_name": "warroom", "always_online": True},
            "slash_commands": [
                {
                    "command": policy.slack.command,
                    "url": request_url,
                    "description": "Run an incident: declare, update, stable, resolve, complete, note, ack, status",
                    "usage_hint": "declare | update INC-n [text] | status | help",
                    "should_escape": False,
                }
            ],
        },
        "oauth_config": {"scopes": {"bot": list(SCOPES)}},
        "settings": {
            "interactivity": {"is_enabled": True, "request_url": request_url},
            "event_subscriptions": {"request_url": request_url, "bot_events": ["app_mention"]},
            "org_deploy_enabled": False,
            "socket_mode_enabled": False,
            "token_rotation_enabled": False,
        },
    }
