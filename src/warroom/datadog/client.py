"""The Datadog Incidents REST API (v2) over httpx, with errors sorted for the mirror.

Why not the official `datadog-api-client`: it marks every incident operation unstable (each must be
enabled one by one and may change without notice), and its default retry policy re-sends POSTs on
timeouts and 5xx by itself. Datadog has no idempotency key on create, so a client retrying a create
behind our back would open duplicate Datadog incidents. Here a request is sent exactly once; the
mirror decides about retries (after looking for its marker before any second create).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from warroom.core.settings import Settings
from warroom.notifications import channels


class DatadogError(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Retry(DatadogError):
    """5xx, timeouts, connection errors, 429: try again; `wait` (seconds) when Datadog said one."""

    def __init__(self, reason: str, wait: float | None = None) -> None:
        super().__init__(reason)
        self.wait = wait


class Refused(DatadogError):
    """4xx: this request will never pass (Datadog's own words in `reason`)."""


class AuthFailed(DatadogError):
    """401/403: the keys are wrong or lack a permission; the whole mirror pauses."""


class Gone(DatadogError):
    """404 on an incident: someone deleted it in Datadog."""


def enabled(settings: Settings) -> bool:
    return bool(settings.datadog_api_key and settings.datadog_app_key)


def keys_digest(settings: Settings) -> str:
    raw = f"{settings.datadog_api_key or ''}:{settings.datadog_app_key or ''}"
    return hashlib.sha256(raw.encode()).hexdigest()


def api_base(settings: Settings) -> str:
    """`WARROOM_DATADOG_API_URL`, else the site's API host (api.datadoghq.com, api.us3.datadoghq.com...)."""
    if settings.datadog_api_url:
        return settings.datadog_api_url.rstrip("/")
    return f"https://api.{settings.datadog_site.strip().strip('.')}"


def app_url(settings: Settings, public_id: int | None) -> str | None:
    """Where people open the incident: app.datadoghq.com, us3.datadoghq.com, app.datadoghq.eu..."""
    if public_id is None:
        return None
    site = settings.datadog_site.strip().strip(".")
    host = f"app.{site}" if site.count(".") == 1 else site
    return f"https://{host}/incidents/{public_id}"


def error_text(body: str) -> str:
    """Datadog's errors in both shapes: `{"errors": ["text"]}` and `{"errors": [{"status", "title", "detail"}]}`."""
    try:
        data = json.loads(body)
    except ValueError:
        return body.strip()[:300] or "(empty body)"
    errors = data.get("errors") if isinstance(data, dict) else None
    if not isinstance(errors, list) or not errors:
        return body.strip()[:300]
    out = []
    for err in errors:
        if isinstance(err, dict):
            parts = [str(err[k]) for k in ("title", "detail") if err.get(k)]
            out.append(": ".join(parts) or json.dumps(err)[:200])
        else:
            out.append(str(err))
    return "; ".join(out)[:1000]


def _reset(headers: httpx.Headers) -> float | None:
    """Datadog's X-RateLimit-Reset (seconds), else a plain Retry-After."""
    try:
        return max(0.0, float(headers["x-ratelimit-reset"]))
    except (KeyError, ValueError):
        return channels.retry_after(headers)


def _raise_for(response: httpx.Response, what: str, *, incident: bool = False) -> None:
    status = response.status_code
    if status < 300:
        return
    text = f"{what}: HTTP {status}: {error_text(response.text)}"
    if status == 429:
        raise Retry(text, _reset(response.headers))
    if status >= 500 or status == 408:
        raise Retry(text)
    if status in (401, 403):
        raise AuthFailed(text)
    if status == 404 and incident:
        raise Gone(text)
    raise Refused(text)


@dataclass(frozen=True)
class Created:
    id: str
    public_id: int | None


class Api:
    """One request per call, never retried here; the caller's timeout applies to each."""

    def __init__(self, settings: Settings, *, timeout: float) -> None:
        self.base = api_base(settings)
        self.timeout = timeout
        self.headers = {
            "DD-API-KEY": settings.datadog_api_key or "",
            "DD-APPLICATION-KEY": settings.datadog_app_key or "",
            "Accept": "application/json",  # the pooled client sends warroom's User-Agent
        }

    def _call(self, method: str, path: str, what: str, *, body: Any = None, incident: bool = False) -> Any:
        try:
            response = channels.http_client().request(
                method, self.base + path, json=body, headers=self.headers, timeout=self.timeout
            )
        except httpx.TransportError as exc:
            raise Retry(f"{what}: {type(exc).__name__}: {exc}") from None
        _raise_for(response, what, incident=incident)
        return response.json() if response.content else {}

    def create(self, body: dict[str, Any]) -> Created:
        data = self._call("POST", "/api/v2/incidents", "create", body=body)["data"]
        return Created(str(data["id"]), data.get("attributes", {}).get("public_id"))

    def patch(self, incident_id: str, body: dict[str, Any]) -> None:
        self._call("PATCH", f"/api/v2/incidents/{quote(incident_id)}", "update", body=body, incident=True)

    def search(self, marker: str) -> list[Created]:
        """Incidents whose text holds our marker (a create that reached Datadog though we never heard back)."""
        query = quote(f'"{marker}"')
        data = self._call("GET", f"/api/v2/incidents/search?query={query}", "search")
        found = data.get("data", {}).get("attributes", {}).get("incidents", [])
        out = []
        for item in found:
            inc = item.get("data", item)
            out.append(Created(str(inc["id"]), inc.get("attributes", {}).get("public_id")))
        return out

    def user_id(self, email: str) -> str | None:
        data = self._call("GET", f"/api/v2/users?filter={quote(email)}", "user lookup")
        for user in data.get("data", []):
            if str(user.get("attributes", {}).get("email", "")).lower() == email.lower():
                return str(user["id"])
        return None

    def attach_postmortem(self, incident_id: str, url: str, title: str) -> None:
        body = {
            "data": {
                "type": "incident_attachments",
                "attributes": {"attachment_type": "postmortem", "attachment": {"documentUrl": url, "title": title}},
            }
        }
        self._call(
            "POST", f"/api/v2/incidents/{quote(incident_id)}/attachments", "postmortem", body=body, incident=True
        )

    def add_todo(self, incident_id: str, content: str) -> None:
        body = {"data": {"type": "incident_todos", "attributes": {"content": content, "assignees": []}}}
        self._call(
            "POST", f"/api/v2/incidents/{quote(incident_id)}/relationships/todos", "todo", body=body, incident=True
        )
