"""The Slack side of /slack/events: sends signed slash commands, block actions and view submissions
exactly as Slack does (form-encoded; interactions as a `payload` JSON field), and answers the Web
API through `SlackApiServer` (views.open, chat.*, response_url posts), which records every call."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import httpx

from tests.support.http_fakes import SlackApiServer
from tests.support.server import http_client

SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
TEAM = "T0WARROOM"
_ids = itertools.count(1)


def sign(secret: str, timestamp: int, body: bytes) -> str:
    base = b"v0:" + str(timestamp).encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


@dataclass
class FakeSlack:
    """`api` is the Web API Slack offers warroom; `url` is warroom's request URL (/slack/events)."""

    url: str
    api: SlackApiServer
    now: Callable[[], float]
    secret: str = SIGNING_SECRET
    command: str = "/warroom"
    client: httpx.Client = field(default_factory=lambda: http_client(timeout=30))

    # ---- the raw request, as Slack sends it
    def send(
        self,
        body: bytes,
        *,
        content_type: str = "application/x-www-form-urlencoded",
        secret: str | None = None,
        timestamp: int | None = None,
        retry: int | None = None,
        signed: bool = True,
    ) -> httpx.Response:
        ts = int(self.now()) if timestamp is None else timestamp
        headers = {"Content-Type": content_type, "X-Slack-Request-Timestamp": str(ts)}
        if signed:
            headers["X-Slack-Signature"] = sign(secret or self.secret, ts, body)
        if retry is not None:
            headers["X-Slack-Retry-Num"] = str(retry)
            headers["X-Slack-Retry-Reason"] = "http_timeout"
        return self.client.post(self.url, content=body, headers=headers)

    def _response_url(self) -> str:
        return self.api.response_url(next(_ids))

    # ---- what a person does
    def slash(self, user: str, text: str, *, trigger_id: str | None = None, **kw: Any) -> httpx.Response:
        form = {
            "token": "deprecated-verification-token",
            "team_id": TEAM,
            "team_domain": "acme",
            "channel_id": "C0SUPPORT",
            "channel_name": "identity-support",
            "user_id": user,
            "user_name": user.lower(),
            "command": self.command,
            "text": text,
            "api_app_id": "A0WARROOM",
            "is_enterprise_install": "false",
            "response_url": self._response_url(),
            "trigger_id": trigger_id or f"{next(_ids)}.{next(_ids)}.trigger",
        }
        return self.send(urlencode(form).encode(), **kw)

    def interact(self, payload: dict[str, Any], **kw: Any) -> httpx.Response:
        return self.send(urlencode({"payload": json.dumps(payload)}).encode(), **kw)

    def click(
        self,
        user: str,
        action_id: str,
        value: str,
        *,
        action_ts: str | None = None,
        select: bool = False,
        message: dict[str, Any] | None = None,
        **kw: Any,
    ) -> httpx.Response:
        action: dict[str, Any] = {
            "action_id": action_id,
            "block_id": "b1",
            "action_ts": action_ts or f"1700000000.{next(_ids):06d}",
        }
        if select:
            action.update(
                type="static_select", selected_option={"text": {"type": "plain_text", "text": value}, "value": value}
            )
        else:
            action.update(type="button", value=value, text={"type": "plain_text", "text": action_id})
        payload = {
            "type": "block_actions",
            "user": {"id": user, "username": user.lower(), "name": user.lower(), "team_id": TEAM},
            "api_app_id": "A0WARROOM",
            "team": {"id": TEAM, "domain": "acme"},
            "container": {"type": "message", "message_ts": "1700000000.000001", "channel_id": "C0SUPPORT"},
            "channel": {"id": "C0SUPPORT", "name": "identity-support"},
            "message": message or {"ts": "1700000000.000001", "text": "card"},
            "trigger_id": f"{next(_ids)}.{next(_ids)}.trigger",
            "response_url": self._response_url(),
            "actions": [action],
        }
        return self.interact(payload, **kw)

    def submit(self, user: str, view: dict[str, Any], values: dict[str, Any], **kw: Any) -> httpx.Response:
        """Submit an opened view (from `api.calls_to('views.open')`) with `values`: block id -> a
        plain value (text or select), a list (multi select) or `("user", "U1")` (users_select)."""
        state: dict[str, Any] = {}
        for block in view.get("blocks", []):
            if block.get("type") != "input":
                continue
            bid = block["block_id"]
            element = block["element"]
            given = values.get(bid, _initial(element))
            state[bid] = {element["action_id"]: _state_value(element, given)}
        payload = {
            "type": "view_submission",
            "team": {"id": TEAM, "domain": "acme"},
            "user": {"id": user, "username": user.lower(), "name": user.lower(), "team_id": TEAM},
            "api_app_id": "A0WARROOM",
            "trigger_id": f"{next(_ids)}.{next(_ids)}.trigger",
            "view": {**view, "state": {"values": state}},
            "response_urls": [],
        }
        return self.interact(payload, **kw)

    # ---- what Slack received
    def opened_views(self) -> list[dict[str, Any]]:
        return [c.response["view"] for c in self.api.calls_to("views.open") if c.ok and c.response]

    def responses(self) -> list[dict[str, Any]]:
        return [c.data for c in self.api.calls_to("response")]


def _initial(element: dict[str, Any]) -> Any:
    kind = element["type"]
    if kind == "users_select":
        return ("user", element.get("initial_user"))
    if kind == "multi_static_select":
        return [o["value"] for o in element.get("initial_options", [])]
    if kind == "static_select":
        return (element.get("initial_option") or {}).get("value")
    return element.get("initial_value")


def _state_value(element: dict[str, Any], given: Any) -> dict[str, Any]:
    kind = element["type"]
    if kind == "users_select":
        user = given[1] if isinstance(given, tuple) else given
        return {"type": kind, "selected_user": user}
    if kind == "multi_static_select":
        return {
            "type": kind,
            "selected_options": [{"value": v, "text": {"type": "plain_text", "text": v}} for v in given or []],
        }
    if kind == "static_select":
        option = {"value": given, "text": {"type": "plain_text", "text": given}} if given else None
        return {"type": kind, "selected_option": option}
    return {"type": kind, "value": given}
