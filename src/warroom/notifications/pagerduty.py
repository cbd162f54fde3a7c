"""The `pagerduty` channel: PagerDuty Events API v2 (`POST /v2/enqueue`), one `dedup_key` per
incident, so trigger, acknowledge and resolve act on the same PagerDuty alert."""

from __future__ import annotations

import json
from typing import Any

from warroom.core.settings import Settings
from warroom.notifications import blocks
from warroom.notifications.channels import Outgoing, Permanent, Result, Transient, _post, retry_after
from warroom.policy.schema import Channel

ACTIONS = frozenset({"trigger", "acknowledge", "resolve"})
SUMMARY_LIMIT = 1024  # the Events API's limit on payload.summary


def event_body(chan: Channel, out: Outgoing) -> dict[str, Any]:
    """The documented event: trigger carries a payload (summary, source, severity) and links;
    acknowledge and resolve only the dedup_key."""
    data = out.payload
    action = str(data.get("action") or ("resolve" if out.event in ("resolved", "completed") else "trigger"))
    if action not in ACTIONS:
        raise Permanent(f"unknown PagerDuty action '{action}'")
    body: dict[str, Any] = {
        "routing_key": chan.routing_key,
        "event_action": action,
        "dedup_key": str(data.get("dedup_key") or f"warroom-{data.get('incident') or out.key}"),
    }
    if action != "trigger":
        return body
    link = blocks.safe_url(data.get("link"))
    details = {
        k: data[k] for k in ("incident", "priority", "severity", "state", "commander", "level", "paged") if k in data
    }
    body["payload"] = {
        "summary": blocks.cut(blocks.plain(out.text, data), SUMMARY_LIMIT) or str(data.get("incident")),
        "source": "warroom",
        "severity": str(data.get("pd_severity") or "critical"),
        "component": ", ".join(data.get("services") or []) or None,
        "group": str(data.get("incident") or ""),
        "class": "incident",
        "custom_details": details,
    }
    body["payload"] = {k: v for k, v in body["payload"].items() if v is not None}
    body["client"] = "warroom"
    if link:
        body["client_url"] = link
        body["links"] = [{"href": link, "text": f"{data.get('incident', 'incident')} in warroom"}]
    return body


def send_pagerduty(settings: Settings, chan: Channel, out: Outgoing, timeout: float) -> Result:
    """202: accepted (its dedup_key is the external id); 400: the event is invalid (dead);
    401/403: the key was refused, 429 and 5xx: retried, so a page is never dropped while it is fixed."""
    url = settings.pagerduty_events_url.rstrip("/") + "/v2/enqueue"
    content = json.dumps(event_body(chan, out)).encode()
    response = _post(url, content, {"Content-Type": "application/json"}, timeout)
    status = response.status_code
    try:
        answer = response.json()
    except ValueError:
        answer = {}
    answer = answer if isinstance(answer, dict) else {}
    said = "; ".join(str(e) for e in answer.get("errors") or []) or str(answer.get("message") or response.text[:200])
    if 200 <= status < 300:
        return Result(external_id=str(answer.get("dedup_key") or "")[:120] or None)
    if status == 429:
        raise Transient("PagerDuty rate limit (HTTP 429)", retry_after(response.headers))
    if status in (401, 403):
        raise Transient(f"PagerDuty refused the routing key (HTTP {status}): check the channel's routing_key")
    if status == 400:
        raise Permanent(f"PagerDuty: invalid event (HTTP 400): {said}")
    raise Transient(f"PagerDuty HTTP {status}: {said}")
