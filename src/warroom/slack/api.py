"""Slack Web API calls made while answering Slack: opening a modal (within the trigger's 3 seconds)
and ephemeral answers through `response_url`. A failure is logged, counted in /metrics and told
to the person where Slack lets us; state changes never go this way (they are outbox rows)."""

from __future__ import annotations

import json
import logging
import urllib.error
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.webhook import WebhookClient

from warroom.core import metrics
from warroom.core.settings import Settings
from warroom.notifications import channels
from warroom.notifications.blocks import safe_url

log = logging.getLogger(__name__)
TIMEOUT_S = 2.5  # a trigger lives 3 seconds


def _code(exc: SlackApiError) -> str:
    data = exc.response.data if isinstance(getattr(exc.response, "data", None), dict) else {}
    status = getattr(exc.response, "status_code", 200)
    return str(data.get("error") or f"http_{status}")


def open_view(settings: Settings, trigger_id: str, view: dict[str, Any]) -> str | None:
    """views.open; None when opened, else what to tell the person (an expired trigger included)."""
    try:
        client = channels.slack_client(settings, TIMEOUT_S)
        client.views_open(trigger_id=trigger_id, view=view)
        return None
    except channels.Permanent as exc:
        code = exc.reason.split(":")[0]
    except SlackApiError as exc:
        code = _code(exc)
    except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as exc:
        code = f"connection: {type(exc).__name__}"
    metrics.SLACK_API_ERRORS.labels(method="views.open", error=code).inc()
    log.warning("views.open failed: %s", code)
    if code in ("expired_trigger_id", "exchanged_trigger_id"):
        return "That took Slack too long (the form's trigger expired): please try again."
    return f"Slack refused to open the form ({code}); the warroom web UI can do the same."


def respond(response_url: str, body: dict[str, Any]) -> bool:
    """Post to a response_url (ephemeral by default); runs after the ack, so it may take its time."""
    url = safe_url(response_url)
    if url is None:
        return False
    try:
        answer = WebhookClient(url, timeout=5).send_dict({"response_type": "ephemeral", **body})
    except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as exc:
        metrics.SLACK_API_ERRORS.labels(method="response_url", error=type(exc).__name__).inc()
        log.warning("response_url post failed: %s", exc)
        return False
    if answer.status_code != 200:
        metrics.SLACK_API_ERRORS.labels(method="response_url", error=f"http_{answer.status_code}").inc()
        log.warning("response_url answered %s: %s", answer.status_code, json.dumps(answer.body)[:200])
        return False
    return True
