"""Webhook bodies -> normalized alert events; pure, so the dry run and the hot path agree."""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

SOURCES = ("datadog", "alertmanager", "grafana", "events")
RAW_LIMIT = 65_536
MAX_DEPTH = 64  # real webhook bodies nest 4-6 levels; deeper is refused before anything recurses on it
FIRING_TRANSITIONS = ("Triggered", "Re-Triggered", "Warn", "Re-Warn", "No Data", "Re-No Data", "Renotify")
RESOLVED_TRANSITIONS = ("Recovered",)
_TRANSITIONS = {t.lower(): t for t in FIRING_TRANSITIONS + RESOLVED_TRANSITIONS}
_TITLE_PREFIX = re.compile(r"^\s*\[([^\]]*)\]\s*")
_ON_SCOPE = re.compile(r"^(?P<t>[A-Za-z -]+?)\s+on\s+(?P<scope>.*)$")
_TEMPLATE_VAR = re.compile(r"^\$[A-Z_]+$")


class BadPayload(ValueError):
    """The body is JSON but not an event this source understands (400, not retried)."""

    def __init__(self, message: str, errors: list[str] | None = None) -> None:
        super().__init__(message)
        self.errors = errors or [message]


@dataclass
class Incoming:
    """One alert event as warroom understands it, whatever the sender."""

    source: str
    dedup_key: str
    status: str  # firing | resolved | acknowledged (events only; changes nothing)
    title: str
    transition: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    link: str | None = None
    priority_hint: str | None = None
    monitor_id: str | None = None
    occurred_at: datetime | None = None  # a firing event's: when the sender says the alert started
    raw: str = ""
    episode_key: str | None = None  # what stays the same from one firing of this alert to the next

    @property
    def episode(self) -> str:
        """The key a flapping alert keeps across re-fires (Datadog's cycle key changes each time)."""
        return self.episode_key or self.dedup_key

    def content_hash(self) -> str:
        return hashlib.sha256(f"{self.source}\n{self.dedup_key}\n{self.status}\n{self.raw}".encode()).hexdigest()


def loads(body: bytes) -> Any:
    """A webhook body as JSON; ValueError saying why for bad UTF-8, bad JSON or nesting past MAX_DEPTH."""
    try:
        data = json.loads(body)
    except RecursionError:
        raise ValueError(f"nested deeper than {MAX_DEPTH} levels") from None
    if body.count(b"{") + body.count(b"[") > MAX_DEPTH and _depth(data) > MAX_DEPTH:
        raise ValueError(f"nested deeper than {MAX_DEPTH} levels")
    return data


def _depth(value: Any) -> int:
    """Deepest container nesting, without recursion (stops once past MAX_DEPTH)."""
    deepest, stack = 0, [(value, 1)] if isinstance(value, (dict, list)) else []
    while stack and deepest <= MAX_DEPTH:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        children = item.values() if isinstance(item, dict) else item
        stack.extend((c, depth + 1) for c in children if isinstance(c, (dict, list)))
    return deepest


def _s(value: Any) -> str | None:
    """A template value as text; an unfilled `$VARIABLE` or blank counts as missing."""
    if value is None:
        return None
    text = value if isinstance(value, str) else json.dumps(value) if isinstance(value, dict | list) else str(value)
    text = text.strip()
    if not text or (text[0] == "$" and _TEMPLATE_VAR.match(text)):
        return None
    return text


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


_RAW = json.JSONEncoder(sort_keys=True, separators=(",", ":"), default=str)  # built once, not per event


def _raw(item: Any) -> str:
    return _RAW.encode(item)[:RAW_LIMIT]


def _key(value: str) -> str:
    return value if len(value) <= 255 else "sha256:" + hashlib.sha256(value.encode()).hexdigest()


def parse_time(value: Any) -> datetime | None:
    """Epoch seconds or milliseconds, or ISO 8601; Go's zero time means none."""
    text = _s(value)
    if text is None:
        return None
    try:
        number = float(text)
    except ValueError:
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return None
        if parsed.year <= 1:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    if number > 1e11:
        number /= 1000
    try:
        return datetime.fromtimestamp(number, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def tags_to_labels(tags: Any) -> dict[str, str]:
    """Datadog `$TAGS` ("a:b,c:d" or a list) -> labels; repeated keys keep every value."""
    items: list[str]
    if isinstance(tags, list):
        items = [str(t) for t in tags]
    elif isinstance(tags, dict):
        return {str(k): str(v) for k, v in tags.items() if v is not None}
    else:
        text = _s(tags) or ""
        items = [t for t in re.split(r"[,\s]+", text) if t]
    labels: dict[str, str] = {}
    for tag in items:
        key, _, value = tag.strip().partition(":")
        if not key:
            continue
        if key in labels and value and value not in labels[key].split(","):
            labels[key] = f"{labels[key]},{value}"
        elif key not in labels:
            labels[key] = value
    return labels


def _split_title(title: str) -> tuple[str | None, str | None, str | None, str]:
    """'[P1] [Triggered on {host:a}] CPU' -> (transition, scope, priority, rest)."""
    transition = scope = priority = None
    rest = title
    while True:
        match = _TITLE_PREFIX.match(rest)
        if not match:
            break
        inner = match.group(1).strip()
        on = _ON_SCOPE.match(inner)
        word, where = (on.group("t"), on.group("scope")) if on else (inner, None)
        if word.lower() in _TRANSITIONS and transition is None:
            transition, scope = _TRANSITIONS[word.lower()], where
        elif re.fullmatch(r"P[1-5]", inner, re.IGNORECASE) and priority is None:
            priority = inner.upper()
        else:
            break
        rest = rest[match.end() :]
    return transition, scope, priority, rest.strip()


def parse_datadog(body: Any) -> list[Incoming]:
    """Datadog's default body (transition in the title) or the richer recommended body."""
    if not isinstance(body, dict):
        raise BadPayload("a Datadog webhook body is a JSON object")
    event_title = _s(body.get("event_title")) or _s(body.get("title")) or ""
    t_transition, scope, t_priority, rest = _split_title(event_title)
    transition = _s(body.get("transition")) or t_transition
    if transition and transition.lower() in _TRANSITIONS:
        transition = _TRANSITIONS[transition.lower()]
    alert_type = (_s(body.get("alert_type")) or "").lower()
    if transition is None and alert_type:
        transition = "Recovered" if alert_type == "success" else "Triggered"
    if transition is None:
        raise BadPayload(
            "cannot tell the transition: send 'transition' ($ALERT_TRANSITION) or "
            "keep Datadog's '[Triggered]'/'[Recovered]' title prefix"
        )
    status = "resolved" if transition in RESOLVED_TRANSITIONS else "firing"
    labels = tags_to_labels(body.get("tags"))
    scope = _s(body.get("scope")) or scope
    if scope:
        labels.setdefault("scope", scope)
        for key, value in tags_to_labels(scope.strip("{}")).items():
            labels.setdefault(key, value)
    monitor_id = _s(body.get("alert_id"))
    cycle = _s(body.get("cycle_key"))
    if monitor_id:
        dedup = f"{monitor_id}:{cycle}" if cycle else f"{monitor_id}:{scope or '*'}"
    else:
        if not rest:
            raise BadPayload("a Datadog body needs 'alert_id' or a title")
        dedup = "title:" + hashlib.sha256(f"{scope or ''}|{rest}".encode()).hexdigest()[:32]
    title = _s(body.get("alert_title")) or rest or event_title or f"Datadog monitor {monitor_id}"
    priority = _s(body.get("priority")) or t_priority or _s(labels.get("priority"))
    return [
        Incoming(
            source="datadog",
            dedup_key=_key(dedup),
            status=status,
            title=title[:1024],
            transition=transition,
            labels=labels,
            link=_s(body.get("link")),
            priority_hint=(priority or "").upper()[:8] or None,
            monitor_id=monitor_id,
            occurred_at=parse_time(body.get("date")) or parse_time(body.get("last_updated")),
            raw=_raw(body),
            episode_key=_key(f"{monitor_id}:{scope or '*'}") if monitor_id and cycle else None,
        )
    ]


def parse_alertmanager(body: Any, source: str = "alertmanager") -> tuple[list[Incoming], int]:
    """One event per alert (keyed by fingerprint); status decides, never endsAt."""
    if not isinstance(body, dict) or not isinstance(body.get("alerts"), list):
        raise BadPayload("an Alertmanager/Grafana body is a JSON object with an 'alerts' list")
    group_status = _s(body.get("status")) or "firing"
    common = _dict(body.get("commonLabels"))
    out: list[Incoming] = []
    for i, alert in enumerate(body["alerts"]):
        if not isinstance(alert, dict):
            raise BadPayload(f"alerts[{i}] is not an object")
        labels = {str(k): str(v) for k, v in (_dict(alert.get("labels")) or common).items()}
        for k, v in _dict(alert.get("annotations")).items():
            labels.setdefault(str(k), str(v))
        status = (_s(alert.get("status")) or group_status).lower()
        if status not in ("firing", "resolved"):
            raise BadPayload(f"alerts[{i}].status must be firing or resolved, not '{status}'")
        fingerprint = (
            _s(alert.get("fingerprint"))
            or hashlib.sha256(json.dumps(alert.get("labels") or {}, sort_keys=True).encode()).hexdigest()[:16]
        )
        title = labels.get("summary") or labels.get("alertname") or _s(body.get("title")) or fingerprint
        link = (
            _s(alert.get("panelURL"))
            or _s(alert.get("dashboardURL"))
            or _s(alert.get("generatorURL"))
            or _s(body.get("externalURL"))
        )
        when = alert.get("startsAt") if status == "firing" else alert.get("endsAt")
        out.append(
            Incoming(
                source=source,
                dedup_key=_key(fingerprint),
                status=status,
                title=title[:1024],
                transition=status,
                labels=labels,
                link=link,
                priority_hint=(labels.get("priority") or "").upper()[:8] or None,
                monitor_id=labels.get("alertname"),
                occurred_at=parse_time(when),
                raw=_raw(alert),
            )
        )
    truncated = body.get("truncatedAlerts") or 0
    return out, int(truncated) if isinstance(truncated, int | float | str) and str(truncated).isdigit() else 0


_LEGACY_STATES = {"alerting": "firing", "no_data": "firing", "ok": "resolved", "paused": None, "pending": None}


def is_grafana_legacy(body: Any) -> bool:
    """Grafana 8-10's legacy dashboard alerting: `ruleId`/`state`/`evalMatches`, no `alerts` list."""
    return isinstance(body, dict) and "alerts" not in body and ("ruleId" in body or "evalMatches" in body)


def parse_grafana_legacy(body: dict[str, Any]) -> list[Incoming]:
    """One rule's state change: alerting/no_data fire, ok resolves, paused/pending store nothing."""
    state = (_s(body.get("state")) or "").lower()
    if state not in _LEGACY_STATES:
        raise BadPayload(
            f"a legacy Grafana alert's 'state' must be one of {', '.join(_LEGACY_STATES)}, not '{state}'",
        )
    status = _LEGACY_STATES[state]
    if status is None:
        return []  # a paused rule is not evaluated and a pending one has not fired: nothing changes
    rule_id = _s(body.get("ruleId"))
    if rule_id is None:
        raise BadPayload("a legacy Grafana alert needs 'ruleId'")
    tags = body.get("tags")
    labels = {str(k): str(v) for k, v in _dict(tags).items() if v is not None}
    for match in body.get("evalMatches") or []:
        for k, v in _dict(_dict(match).get("tags")).items():
            labels.setdefault(str(k), str(v))
    message = _s(body.get("message"))
    if message:
        labels.setdefault("message", message[:2000])
    rule_name = _s(body.get("ruleName")) or f"Grafana rule {rule_id}"
    return [
        Incoming(
            source="grafana",
            dedup_key=_key(f"legacy:{_s(body.get('orgId')) or '1'}:{rule_id}"),
            status=status,
            title=rule_name[:1024],
            transition=state,
            labels=labels,
            link=_s(body.get("ruleUrl")),
            priority_hint=(labels.get("priority") or "").upper()[:8] or None,
            monitor_id=rule_name,
            occurred_at=None,  # the legacy body carries no start time: warroom's receipt time counts
            raw=_raw(body),
        )
    ]


_PD_ACTIONS = {"trigger": "firing", "resolve": "resolved", "acknowledge": "acknowledged"}
_PD_SEVERITIES = ("critical", "error", "warning", "info")


def parse_event(body: Any) -> Incoming:
    """PagerDuty Events API v2; a trigger without dedup_key gets one (returned to the sender)."""
    if not isinstance(body, dict):
        raise BadPayload("Event object is invalid", ["the body must be a JSON object"])
    errors: list[str] = []
    action = str(body.get("event_action"))
    if action not in _PD_ACTIONS:
        errors.append("'event_action' must be one of trigger, acknowledge, resolve")
    dedup = body.get("dedup_key")
    if dedup is not None and (not isinstance(dedup, str) or len(dedup) > 255):
        errors.append("'dedup_key' must be a string of at most 255 characters")
    payload = _dict(body.get("payload"))
    if action == "trigger":
        for name in ("summary", "source", "severity"):
            if not _s(payload.get(name)):
                errors.append(f"'payload.{name}' is missing or blank")
        if len(str(payload.get("summary") or "")) > 1024:
            errors.append("'payload.summary' is longer than 1024 characters")
        if payload.get("severity") and payload.get("severity") not in _PD_SEVERITIES:
            errors.append("'payload.severity' must be critical, error, warning or info")
    elif action in ("acknowledge", "resolve") and not dedup:
        errors.append(f"'dedup_key' is required to {action}")
    if errors:
        raise BadPayload("Event object is invalid", errors)
    details = payload.get("custom_details")
    labels = (
        {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in details.items()}
        if isinstance(details, dict)
        else {}
    )
    for name in ("source", "component", "group", "class", "severity"):
        if _s(payload.get(name)):
            labels.setdefault(name if name != "source" else "origin", str(payload[name]))
    links = body["links"] if isinstance(body.get("links"), list) else []
    link = next((str(x.get("href")) for x in links if isinstance(x, dict) and x.get("href")), None)
    return Incoming(
        source="events",
        dedup_key=dedup or uuid.uuid4().hex,
        status=_PD_ACTIONS[action],
        title=(_s(payload.get("summary")) or dedup or "event")[:1024],
        transition=action,
        labels=labels,
        link=link,
        priority_hint=(labels.get("priority") or "").upper()[:8] or None,
        monitor_id=labels.get("class"),
        occurred_at=parse_time(payload.get("timestamp")),
        raw=_raw({k: v for k, v in body.items() if k != "routing_key"}),
    )


def parse(source: str, body: Any) -> tuple[list[Incoming], int]:
    """Dispatch on the source name; returns the events and the count Alertmanager truncated."""
    if source == "datadog":
        return parse_datadog(body), 0
    if source == "grafana" and is_grafana_legacy(body):
        return parse_grafana_legacy(body), 0
    if source in ("alertmanager", "grafana"):
        return parse_alertmanager(body, source)
    if source == "events":
        return [parse_event(body)], 0
    raise BadPayload(f"unknown source '{source}'; expected one of {', '.join(SOURCES)}")
