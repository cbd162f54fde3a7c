"""Bad input over real HTTP: clear 4xx, nothing stored; damaged spec payloads kept as unmapped."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support.alerts import accepted, alerts, dd, incidents, ingest_token, payload, send
from tests.support.server import Running
from warroom.ingest.parsers import MAX_DEPTH

SOURCES = ("datadog", "alertmanager", "grafana", "events")
DEEP = 100_000  # far past the JSON decoder's recursion limit


@pytest.fixture
def token(server: Running) -> str:
    return ingest_token(server)


def error_message(r: Any) -> str:
    message: str = r.json()["error"]["message"]
    return message


@pytest.mark.parametrize("source", SOURCES)
def test_ingest_refuses_undecodable_bodies_with_a_clear_400(server: Running, token: str, source: str) -> None:
    bodies = {
        "invalid UTF-8": b'{"title": "[Triggered] \xff\xfe broken", "alert_id": "1"}',
        "deep nesting": b'{"a":' * DEEP + b"1" + b"}" * DEEP,
        "deep array": b"[" * DEEP + b"]" * DEEP,
        "just past the limit": b'{"a":' * MAX_DEPTH + b"[1]" + b"}" * MAX_DEPTH,
        "not an object": b'"just a string"',
        "empty": b"",
    }
    for what, raw in bodies.items():
        r = send(server, token, source, None, raw=raw)
        assert 400 <= r.status_code < 500, (what, r.status_code, r.text)
        assert error_message(r), (what, r.text)  # the events endpoint adds PagerDuty's fields to it
    assert alerts(server)["total"] == 0


def test_ingest_nesting_up_to_the_limit_is_stored(server: Running, token: str) -> None:
    body = dd()
    nested: Any = "leaf"
    for _ in range(MAX_DEPTH - 1):  # the body itself is the first level
        nested = {"n": nested}
    body["extra"] = nested
    accepted(server, token, "datadog", body)
    assert alerts(server)["total"] == 1
    body["extra"] = {"n": nested}
    r = send(server, token, "datadog", body)
    assert r.status_code == 400 and f"nested deeper than {MAX_DEPTH} levels" in error_message(r), r.text


def test_api_refuses_bad_bodies_with_a_clear_4xx(server: Running) -> None:
    good = {"services": ["sis"], "priority": "P2", "severity": "SEV-3"}
    cases: dict[str, tuple[bytes, int, str]] = {
        "invalid UTF-8": (b'{"services": ["sis"], "title": "\xff"}', 400, ""),
        "deep nesting": (b'{"title":' * DEEP + b'"x"' + b"}" * DEEP, 400, ""),
        "malformed": (b'{"services": ["sis"],', 400, ""),
        "wrong type: priority": (json.dumps({**good, "priority": 5}).encode(), 422, "priority"),
        "wrong type: services": (json.dumps({**good, "services": "sis"}).encode(), 422, "services"),
        "unknown enum: priority": (json.dumps({**good, "priority": "P9"}).encode(), 422, "priority"),
        "unknown enum: severity": (json.dumps({**good, "severity": "SEV-0"}).encode(), 422, "severity"),
        "not an object": (b"[1, 2, 3]", 422, ""),
    }
    with server.admin() as c:
        for what, (raw, status, field) in cases.items():
            r = c.post("/api/v1/incidents", content=raw, headers={"content-type": "application/json"})
            assert r.status_code == status, (what, r.status_code, r.text)
            err = r.json()["error"]
            assert err["code"] and err["message"], (what, r.text)
            assert field in json.dumps(err), (what, r.text)
        r = c.post("/api/v1/incidents", json=good)
        assert r.status_code == 201, r.text
        ref = r.json()["id"]
        r = c.post(f"/api/v1/incidents/{ref}/transitions", json={"to": "exploded"})
        assert r.status_code == 422 and "to" in json.dumps(r.json()["error"]), r.text
        r = c.get("/api/v1/incidents", params={"state": "burning"})
        assert r.status_code == 422 and "state" in json.dumps(r.json()["error"]), r.text
    assert len(incidents(server)) == 1


def test_spec_payloads_with_fields_missing_or_renamed_are_kept_unmapped(server: Running, token: str) -> None:
    datadog = payload("datadog_rich_triggered")
    datadog["labels"] = datadog.pop("tags")  # renamed: no tags, so no service or environment
    datadog.pop("scope")
    datadog["name"] = datadog.pop("title")  # renamed: the scope in the title is gone too
    am = payload("alertmanager_firing")
    for alert in am["alerts"]:
        alert["tags"] = alert.pop("labels")  # renamed
        alert.pop("annotations")
    am.pop("commonLabels")
    grafana = payload("grafana_firing")
    grafana.pop("commonLabels")
    for alert in grafana["alerts"]:
        alert.pop("labels")
        alert.pop("fingerprint", None)  # missing: the alert is keyed on what is left
    events = payload("events_trigger")
    for key in ("component", "group", "custom_details"):  # payload.source stays: PagerDuty requires it
        events["payload"].pop(key)
    for source, body in (("datadog", datadog), ("alertmanager", am), ("grafana", grafana), ("events", events)):
        r = send(server, token, source, body)
        assert r.status_code == 202, (source, r.text)
    page = alerts(server, service="unmapped", per_page=50)
    assert page["total"] == alerts(server)["total"] >= 4
    assert {a["source"] for a in page["items"]} == set(SOURCES)
    assert all(a["mapped"] is False for a in page["items"])
    r = send(server, token, "grafana", grafana)  # the same damaged delivery again changes nothing
    assert r.status_code == 202 and alerts(server)["total"] == page["total"]
