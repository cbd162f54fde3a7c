"""Fault tests: two API processes and two workers on one PostgreSQL under alert and status-update
load, with a worker SIGKILLed, Slack failing, and PostgreSQL restarted. Nothing answered 2xx is
lost, nothing is stored, declared or delivered twice, the cadence holds.

Size: WARROOM_FAULT_EVENTS distinct alert events per scenario (default 800; the issue's figure is
5000), paced over WARROOM_FAULT_SECONDS (default max(15, events/60))."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.faults import checks
from tests.faults.scenario import LEASE_S, Run
from tests.support.http_fakes import Fault
from tests.support.pgcluster import PgCluster
from tests.support.server import http_client
from warroom.core.clock import utcnow
from warroom.notifications.models import Notification
from warroom.scheduler.models import WorkerHeartbeat

pytestmark = [pytest.mark.xdist_group("faults"), pytest.mark.slow]
LOGS: list[dict[str, str]] = []  # every run's logs, for the secrets test
SECRETS: list[str] = []


@contextmanager
def _fault_run(cluster: PgCluster, tmp_path: Path, *, datadog: bool = False) -> Iterator[Run]:
    """A run whose logs and secrets the module's last checks read, and whose figures are printed."""
    r = Run(cluster, tmp_path, datadog=datadog)
    try:
        yield r
    finally:
        r.close()
        LOGS.append(r.logs())
        SECRETS.extend(r.secrets)
        print(f"\nfault run figures: {r.notes}")


@pytest.fixture
def run(cluster: PgCluster, tmp_path: Path) -> Iterator[Run]:
    with _fault_run(cluster, tmp_path) as r:
        yield r


def test_baseline(run: Run) -> None:
    run.drive()
    checks.all_hold(run)


def test_worker_sigkilled_and_restarted(run: Run) -> None:
    def held(r: Run, wid: str | None) -> set[str]:
        with r.sessions() as s:  # rows the worker has claimed and not yet recorded
            return set(
                s.scalars(
                    select(Notification.idempotency_key).where(
                        Notification.state == "pending", Notification.claimed_by == wid
                    )
                )
            )

    def kill(r: Run) -> None:
        victim = r.workers[0]
        assert victim.popen is not None
        pid = victim.popen.pid
        with r.sessions() as s:
            wid = s.scalar(select(WorkerHeartbeat.worker_id).where(WorkerHeartbeat.pid == pid))
        start = utcnow()
        r.slack.fail_always(Fault.late_answer(1.5))  # posts succeed under the 2 s timeout, but stay in flight
        deadline = time.monotonic() + 30
        while not held(r, wid) and time.monotonic() < deadline:  # woken by each post that reaches Slack
            seen = len(r.slack.calls)
            r.slack.wait_for(lambda calls, seen=seen: len(calls) > seen, timeout=1)
        victim.kill(signal.SIGKILL)
        r.slack.clear()
        r.ambiguous = held(r, wid)  # re-claimed after the lease; each may reach Slack twice
        time.sleep(3)
        victim.start()
        r.fault_windows.append((start, utcnow() + _lease()))
        r.notes["in_flight_at_kill"] = len(r.ambiguous)

    run.drive(kill)
    assert run.workers[0].log().count(" started") == 2  # killed, then started again
    assert run.notes["in_flight_at_kill"] > 0, "the kill did not land mid-delivery"
    checks.all_hold(run)


def test_slack_rate_limits_errors_and_timeouts(run: Run) -> None:
    def slack_trouble(r: Run) -> None:
        for fault in (Fault.rate_limited(1), Fault.http(500), Fault.slow(3)):  # 3s > the 2s client timeout
            seen, start = len(r.slack.calls), time.monotonic()
            r.slack.fail_always(fault)
            time.sleep(r.seconds * 0.12)
            # On a saturated box the workers may not call Slack in that window: keep the fault on
            # until a call has met it (retries of earlier failures come back within the backoff).
            r.slack.wait_for(
                lambda calls, fault=fault, seen=seen: any(
                    c.fault is not None and (c.fault.status, c.fault.delay) == (fault.status, fault.delay)
                    for c in calls[seen:]
                ),
                timeout=max(0.0, 60 - (time.monotonic() - start)),
            )
        r.slack.clear()

    run.drive(slack_trouble, at=0.3)
    faulted = [c for c in run.slack.calls if c.fault is not None]
    kinds = {(c.fault.status, c.fault.delay > 0) for c in faulted if c.fault is not None}
    assert {(429, False), (500, False), (200, True)} <= kinds, kinds
    run.notes["slack_faulted_calls"] = len(faulted)
    checks.all_hold(run)


@pytest.fixture
def dd_run(cluster: PgCluster, tmp_path: Path) -> Iterator[Run]:
    with _fault_run(cluster, tmp_path, datadog=True) as r:
        yield r


def test_datadog_outage(dd_run: Run) -> None:
    """Datadog answers 500, then 429 with its reset, then too slowly (it still creates: the marker
    search must find those), then comes back: every incident stands there once, current."""
    dd = dd_run.dd
    assert dd is not None

    def retitle(r: Run, tag: str) -> None:
        """Changes for the mirror to carry while Datadog is down (status updates change nothing it shows)."""
        with http_client(timeout=10) as c:
            for ref in r.incident_refs():
                c.patch(
                    f"{r.urls[0]}/api/v1/incidents/{ref}",
                    json={"title": f"{ref} seen during {tag}"},
                    headers={"authorization": f"Bearer {r.responder_token}"},
                )

    def outage(r: Run) -> None:
        rate_limited = Fault(status=429, body='{"errors": ["Rate limit exceeded"]}', retry_after=1)
        for fault in (Fault.http(500, '{"errors": ["Internal Server Error"]}'), rate_limited, Fault.slow(3)):
            seen, start = len(dd.calls), time.monotonic()
            dd.fail_always(fault)
            retitle(r, f"{fault.status} {fault.delay}")
            time.sleep(r.seconds * 0.12)
            retitle(r, f"{fault.status} {fault.delay} later")
            dd.wait_for(
                lambda calls, fault=fault, seen=seen: any(
                    c.fault is not None and (c.fault.status, c.fault.delay) == (fault.status, fault.delay)
                    for c in calls[seen:]
                ),
                timeout=max(0.0, 60 - (time.monotonic() - start)),
            )
        dd.clear()

    dd_run.drive(outage, at=0.1)
    kinds = {(c.fault.status, c.fault.delay > 0) for c in dd.calls if c.fault is not None}
    assert {(500, False), (429, False), (200, True)} <= kinds, kinds
    checks.all_hold(dd_run)
    checks.datadog_mirrored_once(dd_run)
    dd_run.notes["datadog_faulted_calls"] = sum(c.fault is not None for c in dd.calls)


def test_postgres_restarted(run: Run) -> None:
    def restart(r: Run) -> None:
        start = utcnow()
        r.cluster.stop("fast")
        time.sleep(5)
        r.cluster.start()
        r.fault_windows.append((start, utcnow() + _lease()))

    run.drive(restart)
    assert run.out.statuses[503] > 0, f"the outage was not seen: {dict(run.out.statuses)}"
    checks.all_hold(run, allow_db_warnings=True)
    assert "database reachable again" in run.workers[0].log() + run.workers[1].log()
    for name, text in run.logs().items():
        if name.startswith("worker"):  # (a worker busy recording an outcome retries that instead)
            assert text.count("worker pass failed") + text.count("cannot record the outcome") <= 30, (
                f"{name}: too many outage lines"
            )
        elif name.startswith("api"):
            assert text.count("database unavailable") <= 20, f"{name}: too many outage lines"
    run.notes["http_statuses"] = dict(run.out.statuses)


def test_secrets_never_in_logs(cluster: PgCluster, tmp_path: Path) -> None:
    """Every process log of the runs above (or of a short run of its own) holds no secret."""
    if not LOGS:
        r = Run(cluster, tmp_path, events=200)
        try:
            r.drive()
        finally:
            r.close()
        LOGS.append(r.logs())
        SECRETS.extend(r.secrets)
    assert SECRETS and all(len(s) >= 8 for s in SECRETS)
    for logs in LOGS:
        assert sum(len(t) for t in logs.values()) > 1000  # the logs were really written
        for name, text in logs.items():
            for secret in SECRETS:
                assert secret not in text, f"a secret ({secret[:4]}...) is in {name}"


def _lease() -> timedelta:
    return timedelta(seconds=LEASE_S + 2)
