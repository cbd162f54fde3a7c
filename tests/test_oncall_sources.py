"""External schedules: iCal feeds (fixtures with RRULE, EXDATE, all-day, TZID) and a local fake
PagerDuty speaking `/oncalls` (401, 429 + Retry-After, 5xx); the cache, its failures in /healthz,
/metrics and the UI, and a worker that never crashes on them, on both databases."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from sqlalchemy.engine import Engine

from tests.conftest import start_server
from tests.support.http_fakes import Fault
from tests.support.oncall import merged
from tests.support.oncall_fakes import IcalFeed, PagerDutyApi
from tests.support.server import Running
from tests.support.web import login, make_web_user
from tests.support.wired import HOOKS, JOBS
from warroom.core.clock import FakeClock
from warroom.oncall import refresh, sources
from warroom.oncall import service as oncall
from warroom.oncall.models import OncallSourceCache
from warroom.policy import Policy, parse_policy
from warroom.policy.schedules import IcalSource, PagerDutySource
from warroom.users import service as users
from warroom.worker import Worker

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "ical"
BERLIN = ZoneInfo("Europe/Berlin")
T0 = datetime(2026, 10, 5, 9, 0, tzinfo=UTC)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def ical(name: str, start: datetime = utc(2026, 10, 1), end: datetime = utc(2026, 11, 20)) -> list[dict[str, Any]]:
    return sources.parse_ical((FIXTURES / name).read_bytes(), tz=BERLIN, start=start, end=end)


def test_ical_recurrences_exceptions_and_time_zones() -> None:
    shifts = ical("rotation.ics")
    weeks = [(s["who"], s["start"], s["end"]) for s in shifts]
    assert weeks[:4] == [
        ("alice@example.com", "2026-10-05T07:00:00+00:00", "2026-10-12T07:00:00+00:00"),
        ("bob", "2026-10-12T07:00:00+00:00", "2026-10-19T07:00:00+00:00"),
        # across the change: 09:00 CEST to 09:00 CET, 169 hours (TZID honoured)
        ("alice@example.com", "2026-10-19T07:00:00+00:00", "2026-10-26T08:00:00+00:00"),
        ("bob", "2026-10-26T08:00:00+00:00", "2026-11-02T08:00:00+00:00"),
    ]
    # EXDATE removed alice's week of 2 November: a gap until bob's next turn
    assert [s["start"] for s in shifts[4:]] == ["2026-11-09T08:00:00+00:00", "2026-11-16T08:00:00+00:00"]


def test_ical_all_day_floating_and_organizer_events() -> None:
    shifts = {s["who"]: (s["start"], s["end"]) for s in ical("allday.ics")}
    # all-day 24-25 October in Berlin: local midnight to local midnight, 49 hours across the change
    assert shifts["carol"] == ("2026-10-23T22:00:00+00:00", "2026-10-25T23:00:00+00:00")
    assert shifts["dave@example.com"] == ("2026-10-24T16:00:00+00:00", "2026-10-24T20:00:00+00:00")  # floating 18:00
    assert shifts["erin@example.com"] == ("2026-10-26T08:00:00+00:00", "2026-10-26T12:00:00+00:00")


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("not-ical.html", "not iCalendar (it does not start with BEGIN:VCALENDAR)"),
        ("broken.ics", "not valid iCalendar"),
    ],
)
def test_a_feed_that_is_not_ical_is_a_clear_error(name: str, problem: str) -> None:
    with pytest.raises(sources.SourceError) as caught:
        ical(name)
    assert problem in caught.value.message


@pytest.fixture
def pd() -> Iterator[PagerDutyApi]:
    with PagerDutyApi() as api:
        api.add(email="alice@example.com", name="alice", start=T0 - timedelta(days=2), end=T0 + timedelta(days=5))
        api.add(email="bob@example.com", name="bob", start=T0 + timedelta(days=5), end=T0 + timedelta(days=12))
        api.add(email="alice@example.com", name="alice", start=T0 + timedelta(days=12), end=T0 + timedelta(days=19))
        api.add(email="lead@example.com", name="lead", start=None, end=None, schedule=None, level=2)
        yield api


def _fetch(api: PagerDutyApi, token: str | None = "pd-test-token", **kw: Any) -> list[dict[str, Any]]:
    source = PagerDutySource(**(kw or {"schedule_id": "PSCHED1"}))
    return sources.fetch_pagerduty(source, token=token, api_url=api.url, now=T0)


def test_pagerduty_oncalls_earliest_per_person(pd: PagerDutyApi) -> None:
    shifts = _fetch(pd)
    assert [(s["who"], s["start"]) for s in shifts] == [
        ("alice@example.com", (T0 - timedelta(days=2)).isoformat()),
        ("bob@example.com", (T0 + timedelta(days=5)).isoformat()),
    ]  # earliest=true: alice's next turn is not listed
    [call] = pd.ok_calls()
    assert call.data["earliest"] == ["true"] and call.data["schedule_ids[]"] == ["PSCHED1"]
    assert call.data["include[]"] == ["users"] and call.headers["accept"] == sources.PD_ACCEPT
    level2 = _fetch(pd, escalation_policy_id="PEP1", escalation_level=2)
    assert [(s["who"], s["start"], s["end"]) for s in level2] == [
        ("lead@example.com", T0.isoformat(), (T0 + sources.WINDOW).isoformat())  # always on call
    ]


def test_pagerduty_pages_through_more(pd: PagerDutyApi) -> None:
    pd.page_size_cap = 1
    assert len(_fetch(pd, escalation_policy_id="PEP1", escalation_level=1)) == 2
    assert [c.data["offset"] for c in pd.ok_calls()] == [["0"], ["1"], ["2"]]


@pytest.mark.parametrize(
    ("fault", "problem", "retry_after"),
    [
        (Fault.http(401), "PagerDuty refused the API key (401): check WARROOM_PAGERDUTY_TOKEN", None),
        (Fault.rate_limited(30), "PagerDuty is rate limiting us (429)", 30.0),
        (Fault.http(503), "PagerDuty answered HTTP 503", None),
        (None, "not an /oncalls list", None),
    ],
)
def test_pagerduty_failures_are_sentences(
    pd: PagerDutyApi, fault: Fault | None, problem: str, retry_after: float
) -> None:
    if fault is None:
        pd.html = "<html>maintenance</html>"
    else:
        pd.fail_next(fault)
    with pytest.raises(sources.SourceError) as caught:
        _fetch(pd)
    assert problem in caught.value.message and caught.value.retry_after == retry_after


def test_pagerduty_with_a_wrong_token_no_token_or_no_server(pd: PagerDutyApi) -> None:
    with pytest.raises(sources.SourceError, match="401"):
        _fetch(pd, token="wrong")
    with pytest.raises(sources.SourceError, match="WARROOM_PAGERDUTY_TOKEN is not set"):
        _fetch(pd, token=None)
    pd.stop()
    with pytest.raises(sources.SourceError, match="cannot reach PagerDuty"):
        _fetch(pd)


# ---- through the cache, the worker and the entry points, on both databases


@dataclass
class External:
    server: Running
    pd: PagerDutyApi
    feed: IcalFeed
    clock: FakeClock
    worker: Worker

    def get(self, path: str, **params: str) -> Any:
        with self.server.admin() as c:
            r = c.get(path, params=params)
            assert r.status_code in (200, 503), r.text
            return r.json() if "json" in r.headers.get("content-type", "") else r.text

    def now(self) -> dict[str, dict[str, Any]]:
        return {o["schedule"]: o for o in self.get("/api/v1/oncall")}


def _policy(feed_url: str) -> Policy:
    snippet = {
        "schedules": {
            "pd": {"pagerduty": {"schedule_id": "PSCHED1"}},
            "pd-level2": {"pagerduty": {"escalation_policy_id": "PEP1", "escalation_level": 2, "ttl": "10m"}},
            "cal": {"timezone": "Europe/Berlin", "ical": {"url": feed_url, "ttl": "5m"}},
        },
        "escalation_policies": {"ext": {"levels": [{"schedule": "pd"}, {"schedule": "pd-level2"}]}},
    }
    return parse_policy(yaml.safe_dump(merged(snippet)), "test")


@pytest.fixture
def ext(engine: Engine, db_url: str, pd: PagerDutyApi) -> Iterator[External]:
    clock = FakeClock(T0)
    with IcalFeed((FIXTURES / "rotation.ics").read_bytes()) as feed:
        policy = _policy(feed.url)
        running = start_server(engine, db_url, policy, clock, pagerduty_token="pd-test-token", pagerduty_api_url=pd.url)
        with running.state.sessions.begin() as s:
            for handle in ("alice", "bob", "lead"):
                users.create_user(s, now=T0, handle=handle, email=f"{handle.title()}@Example.com")
        state = running.state
        worker = Worker(state.sessions, settings=state.settings, policy=policy, clock=clock, jobs=JOBS, hooks=HOOKS)
        try:
            yield External(running, pd, feed, clock, worker)
        finally:
            running.server.stop()


def test_the_worker_fills_the_cache_and_everyone_reads_it(ext: External) -> None:
    assert ext.now()["pd"]["source_error"] == "not fetched yet" and ext.now()["pd"]["user"] is None
    assert ext.worker.run_once() >= 3
    found = ext.now()
    assert (found["pd"]["user"], found["pd"]["via"]) == ("alice", "pagerduty")  # matched by e-mail
    assert found["pd"]["until"].startswith("2026-10-10T09:00") and found["pd"]["next"]["user"] == "bob"
    assert found["pd-level2"]["user"] == "lead" and found["pd-level2"]["until"] is None
    assert (found["cal"]["user"], found["cal"]["source_ok"]) == ("alice", True)  # attendee e-mail
    assert found["cal"]["next"]["user"] == "bob"  # the summary as a handle
    calls = len(ext.pd.calls)
    assert ext.worker.run_once() == 0 and len(ext.pd.calls) == calls  # fresh: nothing fetched
    with ext.server.state.read_sessions() as s:
        levels = oncall.level_targets(s, ext.server.state.policy, escalation_policy="ext", at=T0)
        assert [[u.handle for u in t.users] for t in levels] == [["alice"], ["lead"]]
    assert ext.get("/healthz")["checks"]["oncall_sources"] == {"pd": "ok", "pd-level2": "ok", "cal": "ok"}
    # PagerDuty's earliest=true says nothing past bob's turn: not known, not a gap
    with ext.server.admin() as c:
        shifts = c.get("/api/v1/oncall/schedules/pd/shifts").json()
    expected = [("alice", "pagerduty"), ("bob", "pagerduty"), (None, "unknown")]
    assert [(s["user"], s["via"]) for s in shifts] == expected, shifts
    assert shifts[2]["start"].startswith("2026-10-17T09:00")
    # a private calendar's URL is its password: the policy views mask it
    assert ext.get("/api/v1/policy")["schedules"]["cal"]["ical"]["url"] == ext.feed.base + "/***"


def test_a_failing_source_keeps_its_last_answer_and_says_so_everywhere(ext: External) -> None:
    ext.worker.run_once()
    ext.pd.fail_always(Fault.http(503))
    ext.clock.advance(timedelta(minutes=6))
    ext.worker.run_once()  # never raises
    found = ext.now()["pd"]
    assert (found["user"], found["source_ok"]) == ("alice", False)
    assert found["source_error"] == "PagerDuty answered HTTP 503" and found["fetched_at"].startswith("2026-10-05T09:00")
    health = ext.get("/healthz")
    assert health["status"] == "degraded" and health["checks"]["oncall_sources"]["pd"].startswith("failing")
    assert any(
        "on-call schedule 'pd' (pagerduty) failed 1 time(s): PagerDuty answered HTTP 503" in w
        for w in health["warnings"]
    )
    metrics = ext.get("/metrics")
    assert 'warroom_oncall_source_up{kind="pagerduty",schedule="pd"} 0.0' in metrics
    assert 'warroom_oncall_source_failures{kind="pagerduty",schedule="pd"} 1.0' in metrics
    assert 'warroom_oncall_source_answer_age_seconds{kind="pagerduty",schedule="pd"} 360.0' in metrics
    make_web_user(ext.server, "alice")
    client, _ = login(ext.server, "alice")
    page = client.get("/oncall").text
    assert "pagerduty source: PagerDuty answered HTTP 503" in page and "Showing its last answer" in page
    # retried with backoff (30 s, then 60 s), not on every pass
    before = len(ext.pd.calls)
    ext.worker.run_once()
    assert len(ext.pd.calls) == before
    ext.clock.advance(timedelta(seconds=31))
    ext.worker.run_once()
    assert len(ext.pd.calls) == before + 1
    ext.pd.clear()
    ext.clock.advance(timedelta(seconds=61))
    ext.worker.run_once()
    assert ext.now()["pd"]["source_ok"] is True
    assert ext.get("/healthz")["status"] == "ok"


def test_rate_limits_and_refused_tokens(ext: External) -> None:
    ext.worker.run_once()
    ext.pd.fail_next(Fault.rate_limited(600), Fault.rate_limited(600))
    ext.clock.advance(timedelta(minutes=11))  # both PagerDuty schedules are due
    ext.worker.run_once()
    assert "rate limiting us (429)" in ext.now()["pd"]["source_error"]
    before = len(ext.pd.calls)
    for _ in range(3):
        ext.clock.advance(timedelta(minutes=3))
        ext.worker.run_once()
    assert len(ext.pd.calls) == before  # Retry-After: 600 s is honoured
    ext.clock.advance(timedelta(minutes=2))
    ext.pd.fail_always(Fault.http(401))
    ext.worker.run_once()
    assert "check WARROOM_PAGERDUTY_TOKEN" in ext.now()["pd"]["source_error"]
    assert ext.now()["pd"]["user"] == "alice"  # still the last good answer


def test_a_feed_that_stops_being_ical(ext: External) -> None:
    ext.worker.run_once()
    ext.feed.body = (FIXTURES / "not-ical.html").read_bytes()
    with ext.server.admin() as c:
        r = c.post("/api/v1/oncall/refresh", params={"schedule": "cal"})
        assert r.status_code == 200, r.text
        assert r.json() == [
            {
                "schedule": "cal",
                "ok": False,
                "shifts": 0,
                "error": "the feed is not iCalendar (it does not start with BEGIN:VCALENDAR)",
            }
        ]
    assert ext.now()["cal"]["user"] == "alice"
    ext.feed.status = 500
    with ext.server.admin() as c:
        done = {o["schedule"]: o for o in c.post("/api/v1/oncall/refresh").json()}
        assert done["cal"]["error"] == "the iCal feed answered HTTP 500", done


def test_two_workers_never_fetch_one_schedule_together(ext: External) -> None:
    ext.pd.fail_always(Fault.late_answer(0.5))
    ext.feed.fail_always(Fault.late_answer(0.5))
    state = ext.server.state
    other = Worker(
        state.sessions, settings=state.settings, policy=state.policy, clock=ext.clock, jobs=JOBS, hooks=HOOKS
    )
    threads = [threading.Thread(target=w.run_once) for w in (ext.worker, other)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert len(ext.pd.calls) == 2 and len(ext.feed.calls) == 1  # pd and pd-level2 once each, cal once
    with state.read_sessions() as s:
        assert {r.schedule for r in s.query(OncallSourceCache).all() if r.error is None and r.fetched_at} == {
            "pd",
            "pd-level2",
            "cal",
        }


def test_a_schedule_removed_or_repointed_forgets_its_answer(ext: External) -> None:
    ext.worker.run_once()
    state = ext.server.state
    moved = _policy(ext.feed.url + "?v=2").model_copy(
        update={"schedules": {"cal": _policy(ext.feed.url + "?v=2").schedules["cal"]}}
    )
    ext.feed.body = (FIXTURES / "allday.ics").read_bytes()
    done = refresh.refresh(state.sessions, moved, state.settings, ext.clock)
    assert [o.schedule for o in done] == ["cal"]  # a new URL is fetched at once, whatever the TTL
    with state.read_sessions() as s:
        assert [r.schedule for r in oncall.source_rows(s)] == ["cal"]  # pd rows forgotten


def test_a_feed_that_does_not_answer_in_time() -> None:
    with IcalFeed((FIXTURES / "rotation.ics").read_bytes()) as feed:
        feed.fail_next(Fault.slow(3))
        source = IcalSource(url=feed.url, timeout="1s")
        with pytest.raises(sources.SourceError, match="the iCal feed did not answer in time"):
            sources.fetch_ical(source, tz=BERLIN, now=T0)
        assert len(sources.fetch_ical(source, tz=BERLIN, now=T0)) == 5  # the next try works (5 weeks ahead)


def test_a_slow_source_holds_no_database_lock(ext: External) -> None:
    """The worker waits on the network outside any transaction: on SQLite a transaction would hold the
    write lock, and every declaration and alert would wait for the calendar."""
    ext.pd.fail_always(Fault.late_answer(3))
    ext.feed.fail_always(Fault.late_answer(3))
    fetching = threading.Thread(target=ext.worker.run_once)
    fetching.start()
    try:
        assert ext.pd.wait_for(lambda calls: len(calls) >= 1, timeout=10)
        started = time.monotonic()
        with ext.server.admin() as c:
            r = c.post("/api/v1/incidents", json={"services": ["sis"], "priority": "P3", "severity": "SEV-3"})
        assert r.status_code == 201, r.text
        assert time.monotonic() - started < 1.5
        assert fetching.is_alive()  # still waiting on PagerDuty
    finally:
        fetching.join(timeout=30)
