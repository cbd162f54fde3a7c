"""An incident's own Slack channel, made and archived by the worker from outbox rows: create it,
invite the commander and on-call, set the topic, bookmark the warroom page, post the card there."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slack_sdk import WebClient

from warroom.notifications import card
from warroom.notifications.blocks import cut, safe_url

log = logging.getLogger(__name__)
ROOM_OPEN = "room_open"
ROOM_ARCHIVE = "room_archive"
ROOM_EVENTS = frozenset({ROOM_OPEN, ROOM_ARCHIVE})
TOPIC_LIMIT = 250
# harmless answers when a row is sent again (a worker died after the call, before recording it)
_ALREADY = frozenset({"already_in_channel", "already_archived", "cant_invite_self"})


def _soft(
    call: Callable[..., Any],
    method: Callable[..., Any],
    what: str,
    notes: list[str],
    code_of: Callable[[Exception], str],
    **kw: Any,
) -> None:
    """A step after the channel exists: a failure is noted on the row, the rest still happens."""
    try:
        call(method, **kw)
    except Exception as exc:  # noqa: BLE001 - each step is independent; the row keeps the note
        code = code_of(exc)
        if code not in _ALREADY:
            notes.append(f"{what} failed: {code}")
            log.warning("incident room: %s failed: %s", what, code)


def open_room(
    client: WebClient,
    payload: dict[str, Any],
    existing: tuple[str | None, str | None],
    call: Callable[..., Any],
    code_of: Callable[[Exception], str],
) -> tuple[str, str, list[str]]:
    """(channel id, card ts, notes). `existing`: what a previous attempt recorded (id, card ts)."""
    notes: list[str] = []
    channel_id = existing[0]
    if channel_id is None:
        name = str(payload["room"])
        for attempt in range(1, 6):  # name_taken: an earlier attempt made it, or a namesake exists
            candidate = name if attempt == 1 else f"{name[:76]}-{attempt}"
            try:
                channel_id = str(call(client.conversations_create, name=candidate)["channel"]["id"])
                break
            except Exception as exc:
                if code_of(exc) != "name_taken" or attempt == 5:
                    raise
    assert channel_id is not None
    if payload.get("invite"):
        _soft(
            call,
            client.conversations_invite,
            "invite",
            notes,
            code_of,
            channel=channel_id,
            users=",".join(payload["invite"]),
        )
    _soft(
        call,
        client.conversations_setTopic,
        "topic",
        notes,
        code_of,
        channel=channel_id,
        topic=cut(str(payload.get("topic", "")), TOPIC_LIMIT),
    )
    if url := safe_url(payload.get("link")):
        _soft(
            call,
            client.bookmarks_add,
            "bookmark",
            notes,
            code_of,
            channel_id=channel_id,
            title="warroom",
            type="link",
            link=url,
        )
    if existing[1]:
        return channel_id, existing[1], notes
    data = payload.get("card") or {}
    posted = call(
        client.chat_postMessage, channel=channel_id, text=card.text(data), blocks=card.blocks(data), unfurl_links=False
    )
    return channel_id, str(posted["ts"]), notes


def archive_room(
    client: WebClient, channel_id: str | None, call: Callable[..., Any], code_of: Callable[[Exception], str]
) -> list[str]:
    if channel_id is None:
        return ["no channel was made: nothing to archive"]
    try:
        call(client.conversations_archive, channel=channel_id)
    except Exception as exc:
        if code_of(exc) not in _ALREADY:
            raise
    return ["archived"]
