"""Ingest under hostile or absurd input (issue 19 items 3 and 5), over real HTTP.

Numbers past what the database holds are kept as unknown impact with the reason on the alert (the
batch succeeds, nothing is retried forever); a made-up token is refused before its body is read as
JSON, failed attempts are limited per client address, and only verified tokens have a bucket.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support.alerts import accepted, alerts, ingest_token, payload
from tests.support.server import Running

OUT_OF_RANGE = ("inf", "1e400", "9223372036854775808", "2147483648")


@pytest.fixture
def token(server: Running) -> str:
    return ingest_token(server)


def _am_batch(values: tuple[str, ...]) -> dict[str, Any]:
    body = payload("alertmanager_firing")
    template = body["alerts"][0]
    body["alerts"] = []
    for n, value in enumerate((*values, "1500")):
        alert = json.loads(json.dumps(template))
        alert["fingerprint"] = f"users-{n}"
        alert["labels"]["instance"] = f"host-{n}"
        alert["annotations"]["users_per_hour"] = value
        body["alerts"].append(alert)
    return body


def test_out_of_range_users_are_kept_as_unknown_and_the_batch_succeeds(server: Running, token: str) -> None:
    """`inf`, `1e400`, 2**63 and (PostgreSQL's INTEGER) 2**31 were a 500: Alertmanager retried the
    whole batch forever and the good alert in it was never stored."""
    answer = accepted(server, token, "alertmanager", _am_batch(OUT_OF_RANGE))
    assert len(answer["alerts"]) == len(OUT_OF_RANGE) + 1
    by_key = {a["dedup_key"]: a for a in alerts(server, limit=50)["items"]}
    assert by_key["users-4"]["users_per_hour"] == 1500  # the good one in the same batch
    for n in range(len(OUT_OF_RANGE)):
        stored = by_key[f"users-{n}"]
        assert stored["users_per_hour"] is None, stored
        assert stored["priority_rule"] == "unknown-impact-provisional", stored
        assert "users_per_hour" in stored["priority_reason"] and "out of range" in stored["priority_reason"], stored


def test_out_of_range_users_in_the_dry_run(server: Running) -> None:
    with server.admin() as c:
        r = c.post("/api/v1/triage/simulate?source=alertmanager", json=_am_batch(("1e400",)))
    assert r.status_code == 200, r.text
    first = r.json()["results"][0]
    assert first["users_per_hour"] is None and "out of range" in json.dumps(first), first
