"""Senders per channel type: each returns a Result or raises Transient/Permanent, nothing else."""

from __future__ import annotations

import json
import logging
import smtplib
import threading
import urllib.error
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

import httpx
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from warroom import __version__
from warroom.core.settings import Settings
from warroom.notifications import blocks, card, pauses, rooms, signing
from warroom.policy.schema import Channel

log = logging.getLogger(__name__)

SLACK_PERMANENT = frozenset(
    {
        "channel_not_found",
        "not_in_channel",
        "is_archived",
        "invalid_auth",
        "not_authed",
        "token_revoked",
        "account_inactive",
        "missing_scope",
        "no_permission",
        "msg_too_long",
        "invalid_arguments",
        "invalid_blocks",
        "no_text",
        "restricted_action",
        "team_access_not_granted",
        "ekm_access_denied",
        "token_expired",
        "cannot_reply_to_message",
        "message_not_found",
        "cant_update_message",
        "edit_window_closed",
        "org_login_required",
    }
)
HOOK_PERMANENT = frozenset(
    {
        "invalid_payload",
        "channel_not_found",
        "channel_is_archived",
        "action_prohibited",
        "no_service",
        "no_active_hooks",
        "invalid_token",
        "no_team",
        "team_disabled",
        "user_not_found",
        "posting_to_general_channel_denied",
    }
)


class DeliveryError(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Transient(DeliveryError):
    """Try again later; `retry_after` (seconds) is the receiver's own wish, when it said one."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class Permanent(DeliveryError):
    """Retrying cannot help (bad channel, revoked token): dead at once, with the reason."""


class RateLimited(Transient):
    """A Slack method answered 429: the method rests for every worker (`pauses`), not only this row."""

    def __init__(self, reason: str, retry_after: float | None, method: str) -> None:
        super().__init__(reason, retry_after)
        self.method = method


class Paused(DeliveryError):
    """The Slack method rests after a 429 (met by any worker): not called; the row is put back
    until `until` (epoch seconds), which is no failed attempt."""

    def __init__(self, method: str, until: float) -> None:
        super().__init__(f"paused: Slack {method} is rate limited until {pauses.as_datetime(until):%H:%M:%S}")
        self.method, self.until = method, until


@dataclass
class Outgoing:
    key: str
    event: str
    text: str
    payload: dict[str, Any]
    incident_id: int | None
    thread_ts: str | None = None
    root: tuple[str, str] | None = None  # (slack channel id, ts) of the thread's first message
    room: tuple[str | None, str | None] | None = None  # the incident's own channel: (id, card ts), if any


@dataclass
class Result:
    external_id: str | None
    slack_channel: str | None = None
    notes: list[str] = field(default_factory=list)
    reroot: bool = False  # a fresh card replaced the thread's deleted first message
    room: dict[str, Any] | None = None  # what to record of the incident's own channel


def retry_after(headers: Any) -> float | None:
    """Retry-After in seconds (the HTTP-date form is rare for these APIs; treated as absent)."""
    if not headers:
        return None
    for key, value in dict(headers).items():
        if key.lower() == "retry-after":
            value = value[0] if isinstance(value, list) else value
            try:
                return max(0.0, float(value))
            except (TypeError, ValueError):
                return None
    return None


_clients = threading.local()


def slack_client(settings: Settings, timeout: float) -> WebClient:
    """One client per thread and configuration (building one per message costs more than the send)."""
    if not settings.slack_token:
        raise Permanent("not_authed: WARROOM_SLACK_TOKEN is not set")
    base = settings.slack_api_url if settings.slack_api_url.endswith("/") else settings.slack_api_url + "/"
    key = (settings.slack_token, base, max(1, round(timeout)))
    cache: dict[tuple[str, str, int], WebClient] = _clients.__dict__.setdefault("by_key", {})
    if key not in cache:
        # retry_handlers=[]: the outbox owns retries (backoff, attempt limit, Retry-After).
        cache[key] = WebClient(token=key[0], base_url=key[1], timeout=key[2], retry_handlers=[])
    return cache[key]


def _slack_error(exc: SlackApiError, method: str) -> DeliveryError:
    response = exc.response
    status = getattr(response, "status_code", 200)
    data = response.data if isinstance(getattr(response, "data", None), dict) else {}
    code = str(data.get("error") or f"http_{status}")
    if status == 429 or code in ("rate_limited", "ratelimited"):
        return RateLimited(f"rate_limited (HTTP {status}, {method})", retry_after(response.headers), method)
    if status >= 500:
        return Transient(f"HTTP {status}: {code}")
    if code in SLACK_PERMANENT:
        return Permanent(code)
    return Transient(code)


class SlackCall:
    """Calls Slack Web API methods for one delivery: a resting method is not called (`Paused`),
    and a 429 makes the method rest for the rest of the batch (and, once recorded, every worker)."""

    def __init__(self, resting: pauses.MethodPauses | None, now: float) -> None:
        self.resting, self.now = resting, now

    def __call__(self, call: Any, **kwargs: Any) -> Any:
        method = pauses.api_method(call)
        if self.resting is not None and (until := self.resting.until(method, self.now)) is not None:
            raise Paused(method, until)
        try:
            return call(**kwargs)
        except SlackApiError as exc:
            error = _slack_error(exc, method)
        except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as exc:
            raise Transient(f"connection: {type(exc).__name__}: {exc}") from None
        if isinstance(error, RateLimited) and self.resting is not None:
            self.resting.rest(method, self.now, error.retry_after)
        raise error


def _code(error: DeliveryError) -> str:
    return error.reason.split(":")[0].split(" ")[0]


def send_slack(settings: Settings, chan: Channel, out: Outgoing, timeout: float, call: SlackCall) -> Result:
    client = slack_client(settings, timeout)
    if out.event == card.CARD_EVENT:
        return send_card(client, chan, out, call)
    if out.event in rooms.ROOM_EVENTS:
        return send_room(client, out, call)
    as_card = out.event == "declared" and not out.thread_ts and isinstance(out.payload.get("card"), dict)
    kwargs: dict[str, Any] = {
        "channel": chan.channel,
        "text": blocks.cut_escaped(blocks.mrkdwn(out.text, out.payload), blocks.TEXT_LIMIT),
        "blocks": card.blocks(out.payload["card"])
        if as_card
        else blocks.message_blocks(out.event, out.text, out.payload),
        "unfurl_links": False,
        "metadata": {
            "event_type": "warroom_notification",
            "event_payload": {"idempotency_key": out.key, "event": out.event},
        },
    }
    if out.thread_ts:
        kwargs["thread_ts"] = out.thread_ts
        if out.event in chan.reply_broadcast:
            kwargs["reply_broadcast"] = True  # also shown in the channel, not only in the thread
    response = call(client.chat_postMessage, **kwargs)
    return Result(external_id=str(response["ts"]), slack_channel=str(response.get("channel") or chan.channel))


def _code_of(exc: Exception) -> str:
    return _code(exc) if isinstance(exc, DeliveryError) else type(exc).__name__


def send_room(client: WebClient, out: Outgoing, call: SlackCall) -> Result:
    existing = out.room or (None, None)
    if out.event == rooms.ROOM_ARCHIVE:
        notes = rooms.archive_room(client, existing[0], call, _code_of)
        return Result(external_id=existing[0], notes=notes, room={"archived": True})
    channel_id, card_ts, notes = rooms.open_room(client, out.payload, existing, call, _code_of)
    return Result(external_id=channel_id, notes=notes, room={"slack_channel": channel_id, "card_ts": card_ts})


def _room_card(client: WebClient, out: Outgoing, fresh: dict[str, Any], call: SlackCall) -> str | None:
    """The card in the incident's own channel follows the thread's; best effort (noted on the row)."""
    if out.room is None or not out.room[0] or not out.room[1]:
        return None
    try:
        call(client.chat_update, channel=out.room[0], ts=out.room[1], **fresh)
        return "room card updated"
    except DeliveryError as exc:
        return f"room card update failed: {exc.reason}"


def send_card(client: WebClient, chan: Channel, out: Outgoing, call: SlackCall) -> Result:
    """Edit the incident's first message in place; if it is gone (deleted: `message_not_found`)
    or there is none yet, post a fresh card, which becomes the thread's first message."""
    data: dict[str, Any] = out.payload.get("card") or {}
    fresh = {"text": card.text(data), "blocks": card.blocks(data)}
    if out.root is not None:
        channel, ts = out.root
        try:
            call(client.chat_update, channel=channel, ts=ts, **fresh)
            room = _room_card(client, out, fresh, call)
            return Result(external_id=ts, notes=["card updated", *([room] if room else [])])
        except Permanent as exc:
            if _code(exc) != "message_not_found":
                raise
            log.warning("card of incident %s in %s was deleted: posting a fresh one", out.incident_id, channel)
    response = call(client.chat_postMessage, channel=chan.channel, unfurl_links=False, **fresh)
    return Result(
        external_id=str(response["ts"]),
        slack_channel=str(response.get("channel") or chan.channel),
        notes=["fresh card posted"],
        reroot=out.root is not None,
    )


def _http_error(status: int, body: str, headers: Any, permanent_codes: frozenset[str]) -> DeliveryError:
    code = body.strip()[:200]
    if status == 429:
        return Transient(f"HTTP 429: {code}", retry_after(headers))
    if status >= 500 or status in (408, 425):
        return Transient(f"HTTP {status}: {code}")
    if code in permanent_codes or status in (400, 401, 403, 404, 410):
        return Permanent(f"HTTP {status}: {code}")
    return Transient(f"HTTP {status}: {code}")


def http_client() -> httpx.Client:
    """One pooled client per delivery thread: `httpx.post` builds a client (and loads the CA
    bundle, ~50 ms of CPU) per call and never reuses a connection."""
    client: httpx.Client | None = getattr(_clients, "http", None)
    if client is None:
        client = _clients.http = httpx.Client(headers={"User-Agent": f"warroom/{__version__}"})
    return client


def _post(url: str, content: bytes, headers: dict[str, str], timeout: float) -> httpx.Response:
    try:
        return http_client().post(url, content=content, headers=headers, timeout=timeout)
    except httpx.TransportError as exc:
        raise Transient(f"connection: {type(exc).__name__}: {exc}") from None


def send_slack_webhook(chan: Channel, out: Outgoing, timeout: float) -> Result:
    body = json.dumps(
        {
            "text": blocks.cut_escaped(blocks.mrkdwn(out.text, out.payload), blocks.TEXT_LIMIT),
            "blocks": blocks.message_blocks(out.event, out.text, out.payload),
        }
    ).encode()
    response = _post(str(chan.url), body, {"Content-Type": "application/json"}, timeout)
    if response.status_code == 200:
        return Result(external_id=None)
    raise _http_error(response.status_code, response.text, response.headers, HOOK_PERMANENT)


def webhook_body(out: Outgoing, created_at: str) -> bytes:
    return json.dumps(
        {
            "idempotency_key": out.key,
            "event": out.event,
            "text": blocks.plain(out.text, out.payload),
            "incident": out.payload.get("incident"),
            "payload": out.payload,
            "created_at": created_at,
        },
        sort_keys=True,
        separators=(",", ":"),
    ).encode()


def send_webhook(chan: Channel, out: Outgoing, timeout: float, *, now: float, created_at: str) -> Result:
    body = webhook_body(out, created_at)
    timestamp = int(now)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": f"warroom/{__version__}",
        signing.IDEMPOTENCY_HEADER: out.key,
        signing.EVENT_HEADER: out.event,
        signing.TIMESTAMP_HEADER: str(timestamp),
    }
    if chan.secret:
        headers[signing.SIGNATURE_HEADER] = signing.sign(chan.secret, timestamp, body)
    response = _post(str(chan.url), body, headers, timeout)
    if 200 <= response.status_code < 300:
        return Result(external_id=response.headers.get("x-request-id"))
    raise _http_error(response.status_code, response.text, response.headers, frozenset())


def send_email(settings: Settings, chan: Channel, out: Outgoing, timeout: float) -> Result:
    msg = EmailMessage()
    ref = out.payload.get("incident") or "warroom"
    first_line = blocks.plain(out.text, out.payload).splitlines()[0] if out.text else out.event
    msg["Subject"] = blocks.cut(first_line if ref in first_line else f"{ref}: {first_line}", 200)
    msg["From"] = settings.smtp_from
    paged = [str(a) for a in out.payload.get("paged_emails") or []] if out.event == "page" else []
    msg["To"] = ", ".join(dict.fromkeys([*chan.to, *paged]))  # a page also reaches the paged person
    msg["Message-ID"] = f"<{out.key}@warroom>"
    if out.payload.get("incident"):
        msg["References"] = f"<{ref}@warroom>"  # mail clients thread an incident's messages
    msg[signing.IDEMPOTENCY_HEADER] = out.key
    body = blocks.plain(out.text, out.payload)
    url = blocks.safe_url(out.payload.get("link"))
    if url and url not in body:
        body += f"\n\n{url}"
    msg.set_content(body)
    try:
        with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=timeout) as smtp:
            if settings.smtp_starttls:
                smtp.starttls()
            if settings.smtp_user:
                smtp.login(settings.smtp_user, settings.smtp_password or "")
            refused = smtp.send_message(msg)
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _ in exc.recipients.values()]
        reason = f"recipients refused: {exc.recipients}"
        raise (Transient(reason) if all(400 <= c < 500 for c in codes) else Permanent(reason)) from None
    except smtplib.SMTPResponseException as exc:
        reason = f"SMTP {exc.smtp_code}: {exc.smtp_error!r}"
        raise (Permanent(reason) if exc.smtp_code >= 500 else Transient(reason)) from None
    except (smtplib.SMTPException, OSError) as exc:
        raise Transient(f"SMTP connection: {type(exc).__name__}: {exc}") from None
    if refused:
        log.warning("some recipients refused %s: %s", out.key, refused)
    return Result(external_id=msg["Message-ID"])


def send(
    settings: Settings,
    chan: Channel,
    out: Outgoing,
    *,
    timeout: float,
    now: float,
    created_at: str,
    resting: pauses.MethodPauses | None = None,
) -> Result:
    """Dispatch on the channel type; `resting`: the Slack methods that answered 429 lately."""
    if chan.type == "slack":
        return send_slack(settings, chan, out, timeout, SlackCall(resting, now))
    if chan.type == "slack_webhook":
        return send_slack_webhook(chan, out, timeout)
    if chan.type == "webhook":
        return send_webhook(chan, out, timeout, now=now, created_at=created_at)
    if chan.type == "email":
        return send_email(settings, chan, out, timeout)
    if chan.type == "pagerduty":
        from warroom.notifications.pagerduty import send_pagerduty

        return send_pagerduty(settings, chan, out, timeout)
    log.info("notification %s [%s] %s", out.key, out.event, blocks.plain(out.text, out.payload))
    return Result(external_id=None)
