"""An alert storm (one open incident with hundreds of alerts, above every cap): every read and every
automatic action stays bounded, and the counts say what was left out."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event, insert
from sqlalchemy.engine import Engine

from tests.conftest import T0
from tests.support.alert_rows import add_alert, add_alerts
from tests.support.alerts import accepted, incident, incidents, ingest_token, payload, run_jobs, timeline
from tests.support.server import Running
from tests.support.web import login, make_web_user
from warroom.alerts.models import AlertEvent
from warroom.core.clock import FakeClock
from warroom.incidents import drafts
from warroom.incidents import service as incident_service
from warroom.policy import reference_policy
from warroom.triage import rules

STORM = 300  # alerts added to the incident: above every cap (100 JSON, 50 room, 20 + 10 draft)
LONG = " x" * 500  # alert titles near the 1,024-character column limit


@pytest.fixture
def token(server: Running) -> str:
    return ingest_token(server)


def _csp(name: str | None, key: str, users: int | None = None, env: str = "prod") -> dict[str, Any]:
    body = payload("grafana_firing")
    alert = body["alerts"][0]
    alert["fingerprint"] = key
    alert["labels"]["env"] = env
    if name is None:
        del alert["labels"]["csp"]
    else:
        alert["labels"]["csp"] = name
    if users is not None:
        alert["annotations"]["users_per_hour"] = str(users)
    return body


def _declare(server: Running, token: str) -> str:
    accepted(server, token, "grafana", _csp("logingov", "first", users=2000))
    [inc] = incidents(server)
    assert (inc["severity"], inc["priority"], inc["declared_automatically"]) == ("SEV-2", "P1", True)
    ref: str = inc["id"]
    return ref


def _storm(server: Running, token: str, clock: FakeClock) -> str:
    """Declared at 09:00, a human update at 09:01, 300 alerts 09:02-09:07 (20 recovered since),
    40 alert transitions at 09:07 and a note at 09:09; the clock stops at 09:10."""
    ref = _declare(server, token)
    clock.set(T0 + timedelta(minutes=1))
    with server.admin() as c:
        assert c.post(f"/api/v1/incidents/{ref}/updates", json={"message": "Investigating login.gov"}).is_success
    rows = [
        {
            "at": T0 + timedelta(minutes=2, seconds=i),
            "title": f"csp alert {i:03d}{LONG}",
            "labels": {"csp": "logingov"} if i % 2 else {},
        }
        for i in range(STORM)
    ]
    for i in range(0, STORM, 15):
        rows[i].update(status="resolved", resolved_at=rows[i]["at"] + timedelta(minutes=3))
    add_alerts(server.state.sessions, rows, service="csp", incident_id=incident_service.parse_ref(ref))
    with server.state.sessions.begin() as s:
        inc = incident_service.get(s, ref)
        for i in range(40):
            incident_service.add_timeline(
                s,
                inc,
                now=T0 + timedelta(minutes=7),
                actor="system",
                kind="alert",
                text=f"Alert {i} changed to Warn: csp alert{LONG}",
                data={"alert_id": i, "event": "changed to Warn"},
            )
    clock.set(T0 + timedelta(minutes=9))
    with server.admin() as c:
        assert c.post(f"/api/v1/incidents/{ref}/timeline", json={"text": "Failing over to SiS" + "!" * 5000}).is_success
    clock.set(T0 + timedelta(minutes=10))
    return ref


def _check_draft(draft: dict[str, Any]) -> None:
    text = draft["text"]
    assert len(text) < 15_000, len(text)  # was ~900 KB: every alert, twice
    assert (draft["alerts_total"], draft["firing_count"]) == (STORM + 1, STORM - 20 + 1)
    assert (draft["fired_count"], draft["recovered_count"]) == (STORM, 20)
    kinds = [c["kind"] for c in draft["changes"]]
    fired, recovered = kinds.count("alert_fired"), kinds.count("alert_recovered")
    assert fired + recovered == drafts.CHANGES_SHOWN and len(kinds) == drafts.CHANGES_SHOWN + drafts.ENTRIES_SHOWN
    assert draft["changes_omitted"] == STORM + 20 - drafts.CHANGES_SHOWN + 41 - drafts.ENTRIES_SHOWN
    assert f"- ... and {STORM - fired:,} more alerts fired" in text
    assert f"- ... and {41 - drafts.ENTRIES_SHOWN} more timeline entries" in text
    assert ("more alerts recovered" in text) == (recovered < 20)
    assert "Note (admin): Failing over to SiS!!!" in text  # the newest entries are listed
    assert "Alert 39 changed to Warn" in text and "Alert 0 changed to Warn" not in text
    assert f"; and {STORM - 20 + 1 - drafts.FIRING_SHOWN} more ({STORM - 20 + 1} in all)" in text
    still = text.split("Still firing: ", 1)[1].splitlines()[0]
    assert still.startswith("login.gov sign-ins failing since 09:00 UTC")  # longest firing: the declaring alert
    assert len(draft["firing"]) == drafts.FIRING_SHOWN and all(len(c["text"]) <= 200 for c in draft["changes"])


def test_storm_draft_and_automatic_update_are_bounded(
    server: Running, token: str, clock: FakeClock, statements: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    ref = _storm(server, token, clock)
    with server.admin() as c:
        quiet = c.post("/api/v1/incidents", json={"services": ["sis"], "priority": "P2", "severity": "SEV-3"}).json()
        statements.clear()
        assert c.get(f"/api/v1/incidents/{quiet['id']}/updates/draft").status_code == 200
        small = len(statements)
        statements.clear()
        r = c.get(f"/api/v1/incidents/{ref}/updates/draft")
        assert r.status_code == 200, r.text
    # A constant number of queries, whatever the storm: the quiet incident's, plus five LIMITed or
    # index-only reads of the storm's alerts and one count of the timeline entries beyond those shown.
    assert len(statements) == small + 6, statements
    _check_draft(r.json())
    with server.state.sessions() as s:  # a batch (the worker's due jobs) reads the same, in one set of queries
        both = [incident_service.get(s, ref), incident_service.get(s, quiet["id"])]
        alone = [drafts.build(s, incident=i, now=clock.now()) for i in both]
        statements.clear()
        batch = drafts.gather(s, both)
        assert len(statements) == 3 + 6  # entries, alert counts, last human update; the storm's six
        assert [drafts.build(s, incident=i, now=clock.now(), inputs=batch[i.id]) for i in both] == alone
        monkeypatch.setattr(drafts, "BATCH", 1)
        batch = drafts.gather(s, both)
        assert [drafts.build(s, incident=i, now=clock.now(), inputs=batch[i.id]) for i in both] == alone
    assert "Since the last update (09:01 UTC):" in r.json()["text"]
    # The due time passes with no human update: the worker posts the same bounded draft.
    clock.set(T0 + timedelta(minutes=31))
    assert run_jobs(server) >= 1
    with server.admin() as c:
        auto = [u for u in c.get(f"/api/v1/incidents/{ref}/updates").json() if u["automatic"]]
        outbox = c.get("/api/v1/notifications", params={"incident": ref, "limit": 500}).json()["items"]
    assert len(auto) == 1 and len(auto[0]["message"]) < 15_000
    assert f"({STORM - 20 + 1} in all)" in auto[0]["message"]
    posted = [n["text"] for n in outbox if "(automatic status update)" in n["text"]]
    assert posted and all(len(t) < 16_000 for t in posted)


def test_storm_incident_json_lists_a_bounded_page(server: Running, token: str, clock: FakeClock) -> None:
    ref = _storm(server, token, clock)
    got = incident(server, ref)
    assert (got["alerts_total"], got["alerts_firing"]) == (STORM + 1, STORM - 20 + 1)
    assert len(got["alerts"]) == 100 and {a["status"] for a in got["alerts"]} == {"firing"}
    seen = [a["first_seen_at"] for a in got["alerts"]]
    assert seen == sorted(seen) and seen[0] == "2026-10-05T09:00:00Z"  # longest firing first
    with server.admin() as c:
        assert c.get("/api/v1/alerts", params={"incident": ref, "per_page": 500}).json()["total"] == STORM + 1
        schema = c.get("/openapi.json").json()["components"]["schemas"]["IncidentOut"]["properties"]
    assert "GET /api/v1/alerts?incident=INC-n" in schema["alerts"]["description"]
    assert {"alerts_total", "alerts_firing"} <= set(schema)


def test_small_incident_lists_firing_first_then_most_recent(server: Running) -> None:
    with server.admin() as c:
        body = {"services": ["sis"], "priority": "P2", "severity": "SEV-3"}
        ref = c.post("/api/v1/incidents", json=body).json()["id"]
    number = incident_service.parse_ref(ref)
    ids = [
        add_alert(server.state.sessions, service="sis", at=T0 + timedelta(minutes=m), status=status, incident_id=number)
        for m, status in ((1, "resolved"), (2, "firing"), (3, "resolved"), (4, "firing"), (5, "resolved"))
    ]
    got = incident(server, ref)
    assert [a["id"] for a in got["alerts"]] == [ids[1], ids[3], ids[4], ids[2], ids[0]]
    assert (got["alerts_total"], got["alerts_firing"]) == (5, 2)
    with server.admin() as c:
        assert c.get("/api/v1/incidents").json()["items"][0]["alerts_total"] is None  # lists stay light


def test_storm_web_room_shows_a_bounded_list_and_links_to_all(server: Running, token: str, clock: FakeClock) -> None:
    ref = _storm(server, token, clock)
    with server.state.sessions.begin() as s:  # each joining alert adds an alert entry
        inc = incident_service.get(s, ref)
        for i in range(20):
            incident_service.add_timeline(
                s,
                inc,
                now=T0 + timedelta(minutes=8),
                actor="system",
                kind="alert",
                text=f"Alert {1000 + i} joined",
                data={"event": "joined"},
            )
    make_web_user(server, "alice")
    alice, _ = login(server, "alice")
    room = alice.get(f"/incidents/{ref}")
    assert room.status_code == 200
    entries = room.text.split('id="timeline-h"', 1)[1].split("</ol>", 1)[0]
    assert entries.count('data-kind="alert"') == 50 and "Failing over to SiS" in entries
    assert "Incident declared" in entries and "Alert 1019 joined" in entries and "Alert 0 changed" not in entries
    assert "Showing the newest 50 of 61 alert entries" in entries  # 40 + 20 + the declaring alert's
    alerts_part = room.text.split('id="alerts-h"', 1)[1].split("</section>", 1)[0]
    assert alerts_part.count('<span class="alert-status firing">') == 50 and "resolved</span>" not in alerts_part
    assert f"{STORM + 1} linked, {STORM - 20 + 1} firing; showing 50, firing first." in alerts_part
    more = re.search(r'<a href="([^"]+)" id="more-alerts">([^<]+)</a>', alerts_part)
    assert more and more.group(1) == f"/alerts?incident={ref}"
    assert more.group(2) == f"{STORM + 1 - 50} more — all alerts of this incident"
    assert len(room.text) < 150_000, len(room.text)  # was ~700 KB
    textarea = room.text.split('id="update-message"', 1)[1].split("</textarea>", 1)[0]
    assert "more alerts fired" in textarea and f"({STORM - 20 + 1} in all)" in textarea
    listing = alice.get(more.group(1)).text
    assert f"{STORM + 1} in all" in listing and f'Alerts of <a href="/incidents/{ref}">{ref}</a>' in listing
    assert f"/alerts?incident={ref}&amp;page=2" in listing
    assert "20 in all" in alice.get(f"/alerts?incident={ref}&status=resolved").text
    assert "No alerts." in alice.get("/alerts?incident=INC-999").text
    assert alice.get("/alerts?incident=nonsense").status_code == 422


def test_alert_detail_pages_its_events(server: Running) -> None:
    alert_id = add_alert(server.state.sessions, service="sis", at=T0)
    with server.state.sessions.begin() as s:
        s.execute(
            insert(AlertEvent),
            [
                dict(
                    alert_id=alert_id,
                    event_key=f"e{i}",
                    source="datadog",
                    status="firing",
                    transition="Triggered",
                    received_at=T0 + timedelta(seconds=i),
                    occurred_at=None,
                    raw=f'{{"n": {i}}}',
                )
                for i in range(120)
            ],
        )
    seen: list[int] = []
    before: int | None = None
    with server.admin() as c:
        for size in (50, 50, 20):
            page = c.get(f"/api/v1/alerts/{alert_id}", params={"events_before": before} if before else {}).json()
            ns = [e["raw"]["n"] for e in page["events"]]
            assert len(ns) == size and ns == sorted(ns) and page["events_total"] == 120
            seen = ns + seen
            before = page["events_next_before"]
        assert before is None and seen == list(range(120))
        every = c.get(f"/api/v1/alerts/{alert_id}", params={"events_limit": 500}).json()
        assert len(every["events"]) == 120 and every["events_next_before"] is None
        assert c.get(f"/api/v1/alerts/{alert_id}", params={"events_limit": 501}).status_code == 422
        assert c.get(f"/api/v1/alerts/{alert_id}", params={"events_limit": 0}).status_code == 422


@pytest.fixture
def statements(engine: Engine) -> Iterator[list[str]]:
    """Every SQL statement the server runs while the test holds the list."""
    seen: list[str] = []

    def record(conn: Any, cursor: Any, sql: str, *args: Any) -> None:
        seen.append(sql)

    event.listen(engine, "before_cursor_execute", record)
    yield seen
    event.remove(engine, "before_cursor_execute", record)


def _reads_firing_labels(sql: str) -> bool:
    """A read of the labels of an incident's firing alerts (what severity suggestion needs)."""
    head = sql.split(" FROM ", 1)[0]
    return (
        sql.lstrip().upper().startswith("SELECT")
        and "alerts.labels" in head
        and "alerts.incident_id = " in sql
        and "alerts.status = " in sql
    )


def test_storm_join_reads_severity_tags_only_when_it_brings_one(
    server: Running, token: str, clock: FakeClock, statements: list[str]
) -> None:
    ref = _declare(server, token)
    add_alerts(
        server.state.sessions,
        [{"at": T0 + timedelta(seconds=i), "labels": {"csp": "logingov"}} for i in range(STORM)],
        service="csp",
        incident_id=incident_service.parse_ref(ref),
    )
    statements.clear()
    out = accepted(server, token, "grafana", _csp(None, "untagged"))["alerts"][0]
    assert out["incident"] == ref and not out["duplicate"]
    assert statements and not any(_reads_firing_labels(s) for s in statements)
    out = accepted(server, token, "grafana", _csp("logingov", "staging-idme", env="staging"))["alerts"][0]
    assert not any(_reads_firing_labels(s) for s in statements)  # not production: no rule counts it
    assert incident(server, ref)["severity"] == "SEV-2"
    statements.clear()
    out = accepted(server, token, "grafana", _csp("idme", "idme"))["alerts"][0]
    assert out["incident"] == ref
    reads = [s for s in statements if _reads_firing_labels(s)]
    assert len(reads) == 1 and "DISTINCT" in reads[0].upper()
    assert incident(server, ref)["severity"] == "SEV-1"
    changed = [e for e in timeline(server, ref) if e["kind"] == "severity_changed"]
    assert len(changed) == 1 and "2 distinct csp value(s) (idme, logingov) >= 2: SEV-1" in changed[0]["text"]
    statements.clear()
    accepted(server, token, "grafana", _csp("mhv", "mhv"))  # a third value: SEV-1 cannot rise, no read
    assert statements and not any(_reads_firing_labels(s) for s in statements)


def test_comma_separated_tag_values_count_apart(server: Running, token: str) -> None:
    ref = _declare(server, token)
    add_alerts(
        server.state.sessions,
        [
            {"at": T0, "labels": {"csp": "logingov, dslogon"}},
            {"at": T0, "labels": {"csp": "idme"}, "tier": 2},
        ],  # staging: not counted
        service="csp",
        incident_id=incident_service.parse_ref(ref),
    )
    accepted(server, token, "grafana", _csp("logingov", "again"))
    assert incident(server, ref)["severity"] == "SEV-1"
    changed = [e for e in timeline(server, ref) if e["kind"] == "severity_changed"]
    assert "(dslogon, logingov)" in changed[0]["text"]


def test_severity_can_rise_only_below_the_most_severe_outcome() -> None:
    policy = reference_policy()  # rules give SEV-1 or SEV-2, the default is SEV-3
    assert [rules.severity_can_rise(policy, s) for s in ("SEV-1", "SEV-2", "SEV-3", "SEV-5")] == [
        False,
        True,
        True,
        True,
    ]


def test_adds_severity_values_matches_severity_for() -> None:
    """The skip is sound: an alert it skips never changes `severity_for` over any set of alerts."""
    policy = reference_policy()
    others: list[list[tuple[dict[str, str], int]]] = [
        [],
        [({"csp": "idme"}, 1)],
        [({"csp": "idme, dslogon"}, 1)],
        [({"csp": "logingov"}, 2)],
    ]
    new_alerts = [
        ({}, 1),
        ({"csp": ""}, 1),
        ({"csp": " , "}, 1),
        ({"csp": "mhv"}, 2),
        ({"csp": "mhv"}, 1),
        ({"csp": "idme"}, 1),
        ({"csp": "a,b"}, 1),
        ({"env": "prod"}, 1),
    ]
    for labels, tier in new_alerts:
        skipped = not rules.adds_severity_values(policy, labels, tier)
        assert skipped == (labels.get("csp", "").replace(",", "").strip() == "" or tier != 1)
        for rest in others:
            if skipped:
                assert rules.severity_for(policy, [*rest, (labels, tier)]) == rules.severity_for(policy, rest)
