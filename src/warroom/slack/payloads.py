"""Slack's three request shapes on one URL: slash commands (form fields), interactivity (a form
field `payload` holding JSON) and the Events API (JSON); each reduced to one `Incoming`."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs


class BadPayload(ValueError):
    """Not a request shape Slack sends."""


@dataclass
class Incoming:
    kind: str  # command | block_actions | view_submission | view_closed | url_verification | event
    user_id: str = ""
    user_name: str = ""
    team_id: str = ""
    channel_id: str = ""
    trigger_id: str = ""
    response_url: str = ""
    command: str = ""
    text: str = ""
    action_id: str = ""
    value: str = ""
    action_ts: str = ""
    callback_id: str = ""
    view_id: str = ""
    private_metadata: str = ""
    values: dict[str, Any] = field(default_factory=dict)  # view state: block id -> action id -> value
    block_ids: list[str] = field(default_factory=list)  # the submitted view's input blocks, in order
    challenge: str = ""
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str | None:
        """What makes a retry, a double click or a double submit the same request."""
        if self.kind == "command" and self.trigger_id:
            return f"command:{self.trigger_id}"
        if self.kind == "block_actions" and self.action_ts:
            return f"action:{self.user_id}:{self.action_ts}:{self.action_id}"
        if self.kind == "view_submission" and self.view_id:
            return f"view:{self.view_id}"
        return None

    def field(self, block: str) -> Any:
        """A view input's value: text, selected option(s), user or users, whatever the element."""
        for element in (self.values.get(block) or {}).values():
            if "value" in element:
                return element["value"]
            if "selected_option" in element:
                chosen = element["selected_option"]
                return chosen.get("value") if chosen else None
            if "selected_options" in element:
                return [o.get("value") for o in element["selected_options"] or []]
            if "selected_user" in element:
                return element["selected_user"]
            if "selected_users" in element:
                return element["selected_users"]
        return None


def _first(form: dict[str, list[str]], name: str) -> str:
    return (form.get(name) or [""])[0]


def parse(body: bytes, content_type: str) -> Incoming:
    if "json" in content_type:
        try:
            data = json.loads(body or b"{}")
        except ValueError:
            raise BadPayload("body is not JSON") from None
        if not isinstance(data, dict):
            raise BadPayload("body is not a JSON object")
        if data.get("type") == "url_verification":
            return Incoming(kind="url_verification", challenge=str(data.get("challenge", "")), raw=data)
        event = data.get("event") or {}
        return Incoming(
            kind="event",
            team_id=str(data.get("team_id", "")),
            user_id=str(event.get("user", "")) if isinstance(event, dict) else "",
            raw=data,
        )
    try:
        form = parse_qs(body.decode(), keep_blank_values=True)
    except UnicodeDecodeError:
        raise BadPayload("body is not UTF-8") from None
    if "payload" in form:
        return _interaction(_first(form, "payload"))
    if "command" in form:
        return Incoming(
            kind="command",
            command=_first(form, "command"),
            text=_first(form, "text").strip(),
            user_id=_first(form, "user_id"),
            user_name=_first(form, "user_name"),
            team_id=_first(form, "team_id"),
            channel_id=_first(form, "channel_id"),
            trigger_id=_first(form, "trigger_id"),
            response_url=_first(form, "response_url"),
        )
    raise BadPayload("neither a slash command nor an interaction")


def _interaction(text: str) -> Incoming:
    try:
        data = json.loads(text)
    except ValueError:
        raise BadPayload("payload is not JSON") from None
    if not isinstance(data, dict):
        raise BadPayload("payload is not a JSON object")
    user = data.get("user") or {}
    out = Incoming(
        kind=str(data.get("type", "")),
        user_id=str(user.get("id", "")),
        user_name=str(user.get("username") or user.get("name") or ""),
        team_id=str((data.get("team") or {}).get("id", "")),
        channel_id=str((data.get("channel") or {}).get("id", "")),
        trigger_id=str(data.get("trigger_id", "")),
        response_url=str(data.get("response_url", "")),
        raw=data,
    )
    if out.kind == "block_actions":
        actions = data.get("actions") or []
        if not actions:
            raise BadPayload("block_actions without an action")
        action = actions[0]
        out.action_id = str(action.get("action_id", ""))
        out.action_ts = str(action.get("action_ts", ""))
        chosen = action.get("selected_option")
        out.value = str(chosen.get("value", "") if chosen else action.get("value", ""))
    elif out.kind in ("view_submission", "view_closed"):
        view = data.get("view") or {}
        out.view_id = str(view.get("id", ""))
        out.callback_id = str(view.get("callback_id", ""))
        out.private_metadata = str(view.get("private_metadata", ""))
        out.values = dict((view.get("state") or {}).get("values") or {})
        out.block_ids = [str(b.get("block_id")) for b in view.get("blocks") or [] if b.get("type") == "input"]
        urls = data.get("response_urls") or []
        out.response_url = str(urls[0].get("response_url", "")) if urls else ""
    else:
        raise BadPayload(f"interaction type '{out.kind}' is not handled")
    return out
