"""A local Datadog Incidents API (v2) that checks request shapes against the public docs.

Create/update/search incidents, users by email, attachments and todos; `DD-API-KEY` and
`DD-APPLICATION-KEY` must match (403 otherwise, `{"errors": ["Forbidden"]}`); a JSON:API body that
is off (`data.type`, unknown or missing attributes, dropdown fields) is a 400 with Datadog's object
error shape. Faults: `fail_next(...)` as every fake here, `rate_limit(reset)` (429 with the
X-RateLimit-* headers), `after_create(seconds)` (create the incident, then answer late: a timeout,
or a killed worker, after Datadog acted), `refuse_keys()` (401)."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import deque
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from tests.support.http_fakes import Call, Fault, RecordingServer

API_KEY, APP_KEY = "dd-api-test", "dd-app-test"
SEVERITIES = {"UNKNOWN", "SEV-0", "SEV-1", "SEV-2", "SEV-3", "SEV-4", "SEV-5"}
STATES = {"active", "stable", "resolved"}
CREATE_ATTRS = {
    "title",
    "customer_impacted",
    "customer_impact_scope",
    "fields",
    "initial_cells",
    "notification_handles",
    "is_test",
}
PATCH_ATTRS = {
    "title",
    "customer_impacted",
    "customer_impact_scope",
    "customer_impact_start",
    "customer_impact_end",
    "detected",
    "resolved",
    "fields",
    "notification_handles",
}


class Invalid(Exception):
    pass


def _fields(fields: Any) -> None:
    if not isinstance(fields, dict):
        raise Invalid("attributes.fields must be an object")
    for name, value in fields.items():
        if not isinstance(value, dict) or value.get("type") not in (
            "dropdown",
            "multiselect",
            "textbox",
            "autocomplete",
        ):
            raise Invalid(f"fields.{name} must be {{type, value}}")
    if "severity" in fields and fields["severity"].get("value") not in SEVERITIES:
        raise Invalid(f"invalid severity {fields['severity'].get('value')!r}")
    if "state" in fields and fields["state"].get("value") not in STATES:
        raise Invalid(f"invalid state {fields['state'].get('value')!r}")


def _relationships(data: dict[str, Any]) -> str | None:
    rel = data.get("relationships")
    if rel is None:
        return None
    commander = rel.get("commander_user") if isinstance(rel, dict) else None
    if not isinstance(commander, dict) or "data" not in commander:
        raise Invalid("relationships.commander_user.data is required")
    if commander["data"] is None:
        return None
    if commander["data"].get("type") != "users" or not commander["data"].get("id"):
        raise Invalid("commander_user.data must be {type: users, id}")
    return str(commander["data"]["id"])


class DatadogServer(RecordingServer):
    def __init__(self) -> None:
        super().__init__()
        self.incidents: dict[str, dict[str, Any]] = {}
        self.users: dict[str, str] = {}  # email -> user id
        self.attachments: list[tuple[str, dict[str, Any]]] = []
        self.todos: list[tuple[str, str]] = []
        self.keys_ok = True
        self._after_create: deque[float] = deque()
        self._public = 0
        self._mutex = threading.Lock()
        self.httpd.RequestHandlerClass.do_PATCH = self.httpd.RequestHandlerClass.do_POST  # type: ignore[attr-defined]

    # ---- scripting
    def rate_limit(self, reset: int = 1, times: int = 1) -> None:
        self.fail_next(
            *[Fault(status=429, body=json.dumps({"errors": ["Rate limit exceeded"]}), retry_after=reset)] * times
        )

    def after_create(self, seconds: float) -> None:
        self._after_create.append(seconds)

    def refuse_keys(self, refuse: bool = True) -> None:
        self.keys_ok = not refuse

    def patches(self, incident_id: str | None = None) -> list[dict[str, Any]]:
        return [
            c.data
            for c in self.ok_calls()
            if c.method == "PATCH"
            and "/attachments" not in c.path
            and (incident_id is None or c.path.endswith(incident_id))
        ]

    def creates(self) -> list[Call]:
        return [c for c in self.calls if c.method == "POST" and urlsplit(c.path).path == "/api/v2/incidents"]

    # ---- answers
    def fault_response(self, call: Call, fault: Fault) -> tuple[int, dict[str, str], Any]:
        headers = {"Content-Type": "application/json"}
        if fault.status == 429:
            reset = str(int(fault.retry_after or 1))
            headers.update(
                {
                    "X-RateLimit-Limit": "20",
                    "X-RateLimit-Period": "60",
                    "X-RateLimit-Remaining": "0",
                    "X-RateLimit-Reset": reset,
                }
            )
        body = fault.body if fault.body.startswith("{") else json.dumps({"errors": [fault.body or "error"]})
        return fault.status, headers, body

    def handle(self, call: Call) -> tuple[int, dict[str, str], Any]:
        json_ = {"Content-Type": "application/json"}
        if (
            call.headers.get("dd-api-key") != API_KEY
            or call.headers.get("dd-application-key") != APP_KEY
            or not self.keys_ok
        ):
            return 403, json_, {"errors": ["Forbidden"]}
        url = urlsplit(call.path)
        parts = [unquote(p) for p in url.path.strip("/").split("/")]
        try:
            if call.body:
                call.data = json.loads(call.body)
            with self._mutex:
                answer = self._route(call, parts, parse_qs(url.query))
                late = (
                    self._after_create.popleft()
                    if call.method == "POST"
                    and answer[0] == 201
                    and parts == ["api", "v2", "incidents"]
                    and self._after_create
                    else 0.0
                )
            time.sleep(late)  # Datadog acted; the caller may be gone (timed out, killed)
            return answer
        except Invalid as exc:
            return 400, json_, {"errors": [{"status": "400", "title": "Bad Request", "detail": str(exc)}]}

    def _route(self, call: Call, parts: list[str], query: dict[str, list[str]]) -> tuple[int, dict[str, str], Any]:
        json_ = {"Content-Type": "application/json"}
        if parts[:2] != ["api", "v2"]:
            return 404, json_, {"errors": ["Not found"]}
        rest = parts[2:]
        if call.method == "GET" and rest == ["users"]:
            email = query.get("filter", [""])[0].lower()
            found = [
                {"type": "users", "id": uid, "attributes": {"email": e}} for e, uid in self.users.items() if e == email
            ]
            return 200, json_, {"data": found}
        if call.method == "GET" and rest == ["incidents", "search"]:
            text = query.get("query", [""])[0].strip('"')
            hits = [i for i in self.incidents.values() if text and (text in i["title"] or text in i["cells"])]
            return (
                200,
                json_,
                {
                    "data": {
                        "type": "incidents_search_results",
                        "attributes": {"incidents": [{"data": self._doc(i)} for i in hits], "total": len(hits)},
                    }
                },
            )
        if call.method == "POST" and rest == ["incidents"]:
            return self._create(call)
        if len(rest) >= 2 and rest[0] == "incidents":
            incident = self.incidents.get(rest[1])
            if incident is None:
                return 404, json_, {"errors": ["Incident not found"]}
            if call.method == "PATCH" and len(rest) == 2:
                return self._patch(call, incident)
            if call.method == "POST" and rest[2:] == ["attachments"]:
                data = call.data.get("data", {})
                if data.get("type") != "incident_attachments" or data.get("attributes", {}).get(
                    "attachment_type"
                ) not in ("postmortem", "link"):
                    raise Invalid("data.type must be incident_attachments with an attachment_type")
                self.attachments.append((rest[1], data["attributes"]))
                return 200, json_, {"data": [{"type": "incident_attachments", "id": uuid.uuid4().hex, **data}]}
            if call.method == "POST" and rest[2:] == ["relationships", "todos"]:
                data = call.data.get("data", {})
                if data.get("type") != "incident_todos" or not data.get("attributes", {}).get("content"):
                    raise Invalid("data.type must be incident_todos with content")
                self.todos.append((rest[1], data["attributes"]["content"]))
                return 201, json_, {"data": {"type": "incident_todos", "id": uuid.uuid4().hex, **data}}
        return 404, json_, {"errors": ["Not found"]}

    def _doc(self, incident: dict[str, Any]) -> dict[str, Any]:
        attrs = {k: v for k, v in incident.items() if k not in ("id", "cells", "commander")}
        return {"type": "incidents", "id": incident["id"], "attributes": attrs}

    def _create(self, call: Call) -> tuple[int, dict[str, str], Any]:
        data = call.data.get("data") if isinstance(call.data, dict) else None
        if not isinstance(data, dict) or data.get("type") != "incidents":
            raise Invalid("data.type must be 'incidents'")
        attrs = data.get("attributes") or {}
        unknown = set(attrs) - CREATE_ATTRS
        if unknown:
            raise Invalid(f"attributes not accepted on create: {sorted(unknown)}")
        if not isinstance(attrs.get("title"), str) or not isinstance(attrs.get("customer_impacted"), bool):
            raise Invalid("title and customer_impacted are required")
        if attrs["customer_impacted"] and not attrs.get("customer_impact_scope"):
            raise Invalid("customer_impact_scope is required when customer_impacted")
        _fields(attrs.get("fields", {}))
        cells = ""
        for c in attrs.get("initial_cells", []):
            if c.get("cell_type") != "markdown" or not isinstance(c.get("content", {}).get("content"), str):
                raise Invalid("initial_cells: {cell_type: markdown, content: {content}}")
            cells += c["content"]["content"]
        self._public += 1
        incident = {
            "id": str(uuid.uuid4()),
            "public_id": self._public,
            "title": attrs["title"],
            "customer_impacted": attrs["customer_impacted"],
            "fields": attrs.get("fields", {}),
            "cells": cells,
            "commander": _relationships(data),
        }
        self.incidents[incident["id"]] = incident
        return 201, {"Content-Type": "application/json"}, {"data": self._doc(incident)}

    def _patch(self, call: Call, incident: dict[str, Any]) -> tuple[int, dict[str, str], Any]:
        data = call.data.get("data") if isinstance(call.data, dict) else None
        if not isinstance(data, dict) or data.get("type") != "incidents" or data.get("id") != incident["id"]:
            raise Invalid("data.type must be 'incidents' and data.id the incident's id")
        attrs = data.get("attributes") or {}
        unknown = set(attrs) - PATCH_ATTRS
        if unknown:
            raise Invalid(f"attributes not accepted on update: {sorted(unknown)}")
        if "fields" in attrs:
            _fields(attrs["fields"])
            incident["fields"] = {**incident["fields"], **attrs["fields"]}
        for key, value in attrs.items():
            if key != "fields":
                incident[key] = value
        if "relationships" in data:
            incident["commander"] = _relationships(data)
        return 200, {"Content-Type": "application/json"}, {"data": self._doc(incident)}

    def state_of(self, incident_id: str) -> dict[str, Any]:
        i = self.incidents[incident_id]
        return {
            "title": i["title"],
            "severity": i["fields"].get("severity", {}).get("value"),
            "state": i["fields"].get("state", {}).get("value"),
            "commander": i["commander"],
            "customer_impacted": i["customer_impacted"],
        }
