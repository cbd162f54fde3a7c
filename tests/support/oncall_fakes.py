"""A local PagerDuty speaking the REST API's `GET /oncalls` and the Events API v2's `POST /v2/enqueue`,
and an iCal feed server, for the on-call and paging tests.

`/v2/enqueue` checks the event as PagerDuty documents it (a 32-character routing_key; event_action
trigger, acknowledge or resolve; a trigger's payload with summary, source and a severity of critical,
error, warning or info; dedup_key up to 255 characters) and answers 202 {"status": "success",
"message": "Event processed", "dedup_key": ...} or 400 {"status": "invalid event", "errors": [...]};
accepted events are in `events`. It takes no token (the routing key is the credential).

`PagerDutyApi` checks `Authorization: Token token=...` (401 with PagerDuty's error body otherwise),
filters `schedule_ids[]` / `escalation_policy_ids[]` / `escalation_levels[]` and the since/until
window, applies `earliest=true` (the earliest on-call per escalation policy, level and user), adds
e-mails only with `include[]=users`, and pages with limit/offset/more. Faults as in http_fakes
(`fail_next(Fault.rate_limited(30))`, `Fault.http(503)`, `Fault.http(401)`)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.support.http_fakes import Call, RecordingServer


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC) if value else None


class PagerDutyApi(RecordingServer):
    def __init__(self, token: str = "pd-test-token") -> None:
        super().__init__()
        self.token = token
        self.oncalls: list[dict[str, Any]] = []
        self.page_size_cap = 100
        self.html: str | None = None  # answer 200 with this page instead (a captive proxy, a maintenance page)
        self.events: list[dict[str, Any]] = []  # accepted Events API v2 events, in order

    @property
    def url(self) -> str:
        return f"{self.base}/"

    def add(
        self,
        *,
        email: str,
        name: str,
        start: datetime | None,
        end: datetime | None,
        schedule: str | None = "PSCHED1",
        policy: str = "PEP1",
        level: int = 1,
    ) -> None:
        """One on-call entry (start/end None: always on call, as for a user named on the policy itself)."""
        self.oncalls.append(
            {
                "escalation_policy": {"id": policy, "type": "escalation_policy_reference"},
                "escalation_level": level,
                "schedule": {"id": schedule, "type": "schedule_reference"} if schedule else None,
                "user": {"id": "P" + name.upper()[:6], "type": "user", "summary": name, "email": email},
                "start": start.isoformat().replace("+00:00", "Z") if start else None,
                "end": end.isoformat().replace("+00:00", "Z") if end else None,
            }
        )

    def handle(self, call: Call) -> tuple[int, dict[str, str], Any]:
        json_type = {"Content-Type": "application/json"}
        if self.html is not None:
            return 200, {"Content-Type": "text/html"}, self.html
        if call.method == "POST" and urlsplit(call.path).path.rstrip("/") == "/v2/enqueue":
            return self.enqueue(call)
        if call.headers.get("authorization") != f"Token token={self.token}":
            return 401, json_type, {"error": {"message": "Unauthorized", "code": 2006}}
        parts = urlsplit(call.path)
        if call.method != "GET" or parts.path.rstrip("/") != "/oncalls":
            return 404, json_type, {"error": {"message": "Not Found", "code": 2100}}
        q = parse_qs(parts.query)
        call.data = {k: v for k, v in q.items()}
        since, until = _time(q.get("since", [None])[0]), _time(q.get("until", [None])[0])
        found = []
        for entry in self.oncalls:
            if "schedule_ids[]" in q and (entry["schedule"] or {}).get("id") not in q["schedule_ids[]"]:
                continue
            if "escalation_policy_ids[]" in q and entry["escalation_policy"]["id"] not in q["escalation_policy_ids[]"]:
                continue
            if "escalation_levels[]" in q and str(entry["escalation_level"]) not in q["escalation_levels[]"]:
                continue
            start, end = _time(entry["start"]), _time(entry["end"])
            if until and start and start >= until or since and end and end <= since:
                continue
            found.append(entry)
        if q.get("earliest", ["false"])[0] == "true":
            first: dict[tuple[str, int, str], dict[str, Any]] = {}
            for entry in sorted(found, key=lambda e: e["start"] or ""):
                key = (entry["escalation_policy"]["id"], entry["escalation_level"], entry["user"]["id"])
                first.setdefault(key, entry)
            found = list(first.values())
        if "users" not in q.get("include[]", []):
            found = [{**e, "user": {k: v for k, v in e["user"].items() if k != "email"}} for e in found]
        limit = min(int(q.get("limit", ["25"])[0]), self.page_size_cap)
        offset = int(q.get("offset", ["0"])[0])
        page = found[offset : offset + limit]
        body = {"oncalls": page, "limit": limit, "offset": offset, "more": offset + limit < len(found), "total": None}
        return 200, json_type, body

    def enqueue(self, call: Call) -> tuple[int, dict[str, str], Any]:
        json_type = {"Content-Type": "application/json"}
        try:
            event = json.loads(call.body)
        except ValueError:
            return 400, json_type, {"status": "invalid event", "errors": ["bad JSON"]}
        errors = []
        if not isinstance(event, dict):
            event, errors = {}, ["Event object is invalid"]
        if len(str(event.get("routing_key") or "")) != 32:
            errors.append("Length of 'routing_key' is incorrect (should be 32 characters)")
        action = event.get("event_action")
        if action not in ("trigger", "acknowledge", "resolve"):
            errors.append("'event_action' is invalid (must be one of 'trigger', 'acknowledge' or 'resolve')")
        if action in ("acknowledge", "resolve") and not event.get("dedup_key"):
            errors.append("'dedup_key' is required for acknowledge and resolve")
        if len(str(event.get("dedup_key") or "")) > 255:
            errors.append("'dedup_key' is too long (255 characters at most)")
        if action == "trigger":
            body = event.get("payload") or {}
            for key in ("summary", "source", "severity"):
                if not body.get(key):
                    errors.append(f"'payload.{key}' is missing or blank")
            if body.get("severity") and body["severity"] not in ("critical", "error", "warning", "info"):
                errors.append("'payload.severity' is invalid")
            if len(str(body.get("summary") or "")) > 1024:
                errors.append("'payload.summary' is too long")
        if errors:
            return 400, json_type, {"status": "invalid event", "message": "Event object is invalid", "errors": errors}
        dedup = event.get("dedup_key") or f"pd-{len(self.events) + 1}"
        with self.lock:
            self.events.append(event)
        return 202, json_type, {"status": "success", "message": "Event processed", "dedup_key": dedup}


class IcalFeed(RecordingServer):
    """Serves `body` (bytes) at /calendar.ics as text/calendar; set `status` or `body` to misbehave."""

    def __init__(self, body: bytes = b"") -> None:
        super().__init__()
        self.body = body
        self.status = 200
        self.content_type = "text/calendar; charset=utf-8"

    @property
    def url(self) -> str:
        return f"{self.base}/calendar.ics"

    def handle(self, call: Call) -> tuple[int, dict[str, str], Any]:
        return self.status, {"Content-Type": self.content_type}, self.body
