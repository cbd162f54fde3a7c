"""Every route has an auth rule, and the rule holds: a new route without a rule fails here."""

from __future__ import annotations

import re

import pytest

from tests.support.routes import iter_routes
from tests.support.server import Running

# rule: open (no credentials), viewer / responder / admin (user token with at least that role),
# ingest (ingest token), public (no token by design: status page, metrics), slack (Slack's request
# signature only: no token of ours opens it).
RULES: dict[tuple[str, str], str] = {
    ("GET", "/healthz"): "open",
    ("GET", "/openapi.json"): "open",
    ("GET", "/docs"): "open",
    ("GET", "/api/v1/me"): "viewer",
    ("GET", "/api/v1/users"): "viewer",
    ("POST", "/api/v1/users"): "admin",
    ("PATCH", "/api/v1/users/{handle}"): "admin",
    ("GET", "/api/v1/tokens"): "admin",
    ("POST", "/api/v1/tokens"): "admin",
    ("DELETE", "/api/v1/tokens/{token_id}"): "admin",
    ("GET", "/api/v1/policy"): "viewer",
    ("GET", "/api/v1/audit"): "admin",
    ("POST", "/api/v1/incidents"): "responder",
    ("GET", "/api/v1/incidents"): "viewer",
    ("GET", "/api/v1/incidents/{ref}"): "viewer",
    ("PATCH", "/api/v1/incidents/{ref}"): "responder",
    ("POST", "/api/v1/incidents/{ref}/transitions"): "responder",
    ("POST", "/api/v1/incidents/{ref}/commander"): "responder",
    ("POST", "/api/v1/incidents/{ref}/alerts"): "responder",
    ("DELETE", "/api/v1/incidents/{ref}/alerts/{alert_id}"): "responder",
    ("POST", "/api/v1/incidents/{ref}/acknowledge"): "responder",
    ("POST", "/api/v1/incidents/{ref}/updates"): "responder",
    ("GET", "/api/v1/incidents/{ref}/updates"): "viewer",
    ("GET", "/api/v1/incidents/{ref}/timeline"): "viewer",
    ("GET", "/api/v1/incidents/{ref}/pages"): "viewer",
    ("POST", "/api/v1/incidents/{ref}/timeline"): "responder",
    ("GET", "/api/v1/incidents/{ref}/postmortem"): "viewer",
    ("PUT", "/api/v1/incidents/{ref}/postmortem"): "responder",
    ("POST", "/api/v1/incidents/{ref}/postmortem/generate"): "responder",
    ("GET", "/api/v1/incidents/{ref}/postmortem/versions"): "viewer",
    ("GET", "/api/v1/incidents/{ref}/updates/draft"): "viewer",
    ("GET", "/api/v1/incidents/{ref}/cadence"): "viewer",
    ("GET", "/api/v1/incidents/{ref}/oob-requests"): "viewer",
    ("GET", "/api/v1/incidents/{ref}/oob-requests/{oob_id}"): "viewer",
    ("POST", "/api/v1/incidents/{ref}/oob-requests"): "responder",
    ("PATCH", "/api/v1/incidents/{ref}/oob-requests/{oob_id}"): "responder",
    ("POST", "/api/v1/incidents/{ref}/oob-requests/{oob_id}/checklist"): "responder",
    ("POST", "/api/v1/incidents/{ref}/oob-requests/{oob_id}/postmortem"): "responder",
    ("POST", "/api/v1/incidents/{ref}/oob-requests/{oob_id}/transitions"): "responder",
    ("GET", "/api/v1/alerts"): "viewer",
    ("GET", "/api/v1/alerts/{alert_id}"): "viewer",
    ("POST", "/api/v1/triage/simulate"): "viewer",
    ("GET", "/api/v1/notifications"): "viewer",
    ("POST", "/api/v1/notifications/{notification_id}/retry"): "responder",
    ("GET", "/api/v1/oncall"): "viewer",
    ("GET", "/api/v1/oncall/schedules/{schedule}/shifts"): "viewer",
    ("GET", "/api/v1/oncall/overrides"): "viewer",
    ("POST", "/api/v1/oncall/overrides"): "responder",
    ("DELETE", "/api/v1/oncall/overrides/{override_id}"): "responder",
    ("POST", "/api/v1/oncall/refresh"): "responder",
    ("GET", "/api/v1/reports"): "viewer",
    ("GET", "/api/v1/reports/chart.svg"): "viewer",
    ("GET", "/api/v1/reports/monthly"): "viewer",
    ("GET", "/api/v1/reports/paging"): "viewer",
    ("POST", "/api/v1/ingest/alertmanager"): "ingest",
    ("POST", "/api/v1/ingest/datadog"): "ingest",
    ("POST", "/api/v1/ingest/events"): "ingest",
    ("POST", "/api/v1/ingest/grafana"): "ingest",
    ("PUT", "/api/v1/ingest/grafana"): "ingest",
    ("POST", "/api/v1/ingest/datadog-incident"): "ingest",
    ("GET", "/api/v1/datadog"): "viewer",
    ("GET", "/api/v1/incidents/{ref}/datadog"): "viewer",
    ("POST", "/api/v1/incidents/{ref}/datadog/retry"): "responder",
    ("GET", "/api/v1/status"): "public",
    ("GET", "/api/v1/status/{service}"): "public",
    ("GET", "/status"): "public",
    ("GET", "/metrics"): "public",
    ("POST", "/slack/events"): "slack",
    ("GET", "/login"): "open",
    ("POST", "/login"): "session",  # needs the CSRF token of a GET /login first
    ("GET", "/static/{name}"): "open",
    ("POST", "/logout"): "session",
    ("POST", "/incidents/{ref}/tasks"): "session",
    ("POST", "/incidents/{ref}/tasks/{number}"): "session",
    ("GET", "/"): "session",
    ("GET", "/alerts"): "session",
    ("GET", "/dashboard/panel"): "session",
    ("GET", "/incidents"): "session",
    ("GET", "/incidents/new"): "session",
    ("GET", "/incidents/priority-helper"): "session",
    ("GET", "/incidents/{ref}"): "session",
    ("GET", "/incidents/{ref}/postmortem"): "session",
    ("GET", "/incidents/{ref}/postmortem.md"): "session",
    ("GET", "/notifications/dead"): "session",
    ("GET", "/policy"): "session",
    ("POST", "/incidents/new"): "session",
    ("POST", "/incidents/{ref}/edit"): "session",
    ("POST", "/incidents/{ref}/notes"): "session",
    ("POST", "/incidents/{ref}/postmortem"): "session",
    ("POST", "/incidents/{ref}/postmortem/generate"): "session",
    ("POST", "/incidents/{ref}/transition"): "session",
    ("POST", "/incidents/{ref}/acknowledge"): "session",
    ("POST", "/incidents/{ref}/commander"): "session",
    ("POST", "/incidents/{ref}/alerts"): "session",
    ("POST", "/incidents/{ref}/alerts/{alert_id}/detach"): "session",
    ("POST", "/incidents/{ref}/updates"): "session",
    ("POST", "/notifications/{notification_id}/retry"): "session",
    ("POST", "/incidents/{ref}/oob"): "session",
    ("GET", "/incidents/{ref}/oob/{oob_id}"): "session",
    ("POST", "/incidents/{ref}/oob/{oob_id}/edit"): "session",
    ("POST", "/incidents/{ref}/oob/{oob_id}/transition"): "session",
    ("POST", "/incidents/{ref}/oob/{oob_id}/checklist"): "session",
    ("POST", "/incidents/{ref}/oob/{oob_id}/postmortem"): "session",
    ("GET", "/oncall"): "session",
    ("POST", "/oncall/overrides"): "session",
    ("POST", "/oncall/overrides/{override_id}/remove"): "session",
    ("GET", "/reports"): "session",
    ("GET", "/reports.csv"): "session",
    ("GET", "/reports/monthly.md"): "session",
}
LOWER = {"viewer": "ingest", "responder": "viewer", "admin": "responder"}


def _concrete(path: str, values: dict[str, str]) -> str:
    return re.sub(r"\{([^}]+)\}", lambda m: values.get(m.group(1), "1"), path)


def test_every_route_has_a_rule(server: Running) -> None:
    served = set(iter_routes(server.app.routes))
    missing = sorted(served - set(RULES))
    assert not missing, f"routes without an auth rule (add them to RULES): {missing}"
    stale = sorted(set(RULES) - served)
    assert not stale, f"rules for routes that no longer exist: {stale}"


@pytest.fixture
def tokens(server: Running, make_user) -> dict[str, str]:  # type: ignore[no-untyped-def]
    out = {role: make_user(f"rt-{role}", role) for role in ("viewer", "responder")}
    with server.admin() as c:
        out["ingest"] = c.post("/api/v1/tokens", json={"kind": "ingest", "name": "rt"}).json()["token"]
    out["admin"] = server.admin_token
    return out


def test_rules_hold(server: Running, tokens: dict[str, str]) -> None:
    with server.admin() as c:
        assert (
            c.post("/api/v1/incidents", json={"services": ["sis"], "priority": "P3", "severity": "SEV-3"}).status_code
            == 201
        )
        spare = c.post("/api/v1/tokens", json={"user": "rt-viewer"}).json()["id"]
    values = {"ref": "INC-1", "token_id": str(spare), "handle": "rt-viewer", "service": "sis", "name": "htmx.min.js"}
    failures = []
    for (method, path), rule in sorted(RULES.items()):
        if method == "*":
            continue
        url = _concrete(path, values)
        with server.client() as anon:
            status = anon.request(method, url, json={}).status_code
        if rule == "session":
            # web pages: no session -> sign-in redirect (or 401/403 for htmx/forms), never content
            if status not in (302, 303, 401, 403):
                failures.append(f"{method} {path}: no session gave {status}")
            continue
        if rule == "slack":
            with server.client(tokens["admin"]) as c:
                signed_in = c.request(method, url, json={}).status_code
            if (status, signed_in) != (401, 401):
                failures.append(f"{method} {path}: unsigned gave {status} and {signed_in} with a token, want 401")
            continue
        if rule == "ingest":
            if status != 401:
                failures.append(f"{method} {path}: no credentials gave {status}, want 401")
            with server.client(tokens["ingest"]) as c:
                status = c.request(method, url, json={}).status_code
            if status in (401, 403):
                failures.append(f"{method} {path}: ingest token was refused ({status})")
            continue
        if rule == "open" or rule == "public":
            if status in (401, 403):
                failures.append(f"{method} {path}: open route answered {status}")
            continue
        if status != 401:
            failures.append(f"{method} {path}: no credentials gave {status}, want 401")
        lower = LOWER.get(rule)
        if lower:
            with server.client(tokens[lower]) as c:
                status = c.request(method, url, json={}).status_code
            if status != 403:
                failures.append(f"{method} {path}: {lower} gave {status}, want 403")
        with server.client(tokens[rule]) as c:
            status = c.request(method, url, json={}).status_code
        if status in (401, 403):
            failures.append(f"{method} {path}: {rule} was refused ({status})")
    assert not failures, "\n".join(failures)
