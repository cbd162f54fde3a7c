"""Out-of-range numbers and dates are a 422 naming the field, never a 500 (issue 19 item 5), on both databases."""

from __future__ import annotations

import pytest

from tests.support.server import Running
from tests.support.web import login, make_web_user

HUGE = [2**63, 2**31, 10**30]
FAR_DATES = ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"]


def _declare(server: Running) -> str:
    with server.admin() as c:
        r = c.post("/api/v1/incidents", json={"services": ["sis"], "priority": "P1", "severity": "SEV-2"})
        assert r.status_code == 201, r.text
        ref: str = r.json()["id"]
        return ref


def _field_error(r: object, field: str) -> None:
    assert r.status_code == 422, r.text  # type: ignore[attr-defined]
    error = r.json()["error"]  # type: ignore[attr-defined]
    details = error["details"]
    named = details.get("field") if isinstance(details, dict) else details[0]["field"]
    assert error["code"] == "invalid" and named == field and field in error["message"], error


def test_users_impacted_out_of_range_is_a_422(server: Running) -> None:
    ref = _declare(server)
    with server.admin() as c:
        for value in HUGE:
            _field_error(c.patch(f"/api/v1/incidents/{ref}", json={"users_impacted": value}), "users_impacted")
        for raw in ("1e400", "-1e400"):  # JSON numbers past a double: infinity
            r = c.patch(
                f"/api/v1/incidents/{ref}",
                content='{"users_impacted": ' + raw + "}",
                headers={"Content-Type": "application/json"},
            )
            _field_error(r, "users_impacted")
        ok = c.patch(f"/api/v1/incidents/{ref}", json={"users_impacted": 2**31 - 1})
        assert ok.status_code == 200 and ok.json()["users_impacted"] == 2**31 - 1
        _field_error(
            c.post(
                "/api/v1/incidents",
                json={"services": ["sis"], "priority": "P1", "severity": "SEV-2", "users_impacted": 2**63},
            ),
            "users_impacted",
        )


def test_oob_active_daily_users_out_of_range_is_a_422(server: Running) -> None:
    ref = _declare(server)
    with server.admin() as c:
        for value in HUGE:
            r = c.post(f"/api/v1/incidents/{ref}/oob-requests", json={"active_daily_users": value})
            _field_error(r, "active_daily_users")
    make_web_user(server, "alice")
    alice, csrf = login(server, "alice")
    r = alice.post(f"/incidents/{ref}/oob", data={"csrf": csrf, "active_daily_users": str(2**63)})
    assert r.status_code == 422, r.text
    assert "Active daily users, impacted now" in r.text and 'aria-invalid="true"' in r.text


@pytest.mark.parametrize("when", FAR_DATES)
def test_dates_past_the_calendar_in_utc_are_a_422(server: Running, when: str) -> None:
    ref = _declare(server)
    with server.admin() as c:
        checks = [
            ("/api/v1/incidents", {"declared_from": when}, "declared_from"),
            ("/api/v1/incidents", {"declared_to": when}, "declared_to"),
            ("/api/v1/reports", {"from": when, "to": "2026-11-01T00:00:00Z"}, "from"),
            ("/api/v1/reports", {"from": "2026-10-01T00:00:00Z", "to": when}, "to"),
            ("/api/v1/reports/chart.svg", {"from": when, "to": "2026-11-01T00:00:00Z"}, "from"),
            ("/api/v1/audit", {"since": when}, "since"),
        ]
        for path, params, field in checks:
            _field_error(c.get(path, params=params), field)
        r = c.post(f"/api/v1/incidents/{ref}/timeline", json={"text": "long ago", "occurred_at": when})
        _field_error(r, "occurred_at")


def test_report_periods_at_the_ends_of_the_calendar_are_refused(server: Running) -> None:
    with server.admin() as c:
        for month in ("9999-12", "0000-01", "2026-00"):
            r = c.get("/api/v1/reports/monthly", params={"month": month})
            _field_error(r, "month")
    make_web_user(server, "alice")
    alice, _ = login(server, "alice")
    r = alice.get("/reports", params={"from": "9999-12-30", "to": "9999-12-31"})
    assert r.status_code == 422 and "&#39;to&#39; is a date like" in r.text, r.text[:300]
