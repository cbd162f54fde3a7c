"""Real worker processes: one SIGKILLed between Datadog creating the incident and recording it; the next
one finds it by its marker. Never a duplicate Datadog incident (both databases)."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.support import datadog_fake
from tests.support.datadog_fake import DatadogServer
from tests.support.notify import policy_raw
from tests.support.procs import start_piped_worker, stop_procs
from tests.support.wired import HOOKS
from warroom.core.clock import utcnow
from warroom.core.db import make_engine, session_factory
from warroom.datadog.models import DatadogMirror
from warroom.incidents import service as incidents
from warroom.incidents.models import Incident
from warroom.incidents.schemas import IncidentCreate
from warroom.policy import Policy


@pytest.fixture(autouse=True)
def _tracking() -> None:
    """This test process declares incidents itself: it tracks their changes as warroom's processes do."""
    HOOKS.setup_process()


@pytest.fixture
def fake() -> Iterator[DatadogServer]:
    with DatadogServer() as server:
        yield server


def _env(tmp_path: Path, db_url: str, fake: DatadogServer) -> tuple[Policy, dict[str, str]]:
    raw = policy_raw(
        channels={},
        routes={},
        notifications={"lease": "3s", "timeout": "2s"},  # the mirror's own lease: 4 x 2s + 1s
        worker={"poll_interval": "50ms", "heartbeat_every": "500ms"},
        datadog={"coalesce": "0s"},
    )
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(raw))
    env = {
        **os.environ,
        "WARROOM_DATABASE_URL": db_url,
        "WARROOM_POLICY": str(path),
        "WARROOM_DATADOG_API_KEY": datadog_fake.API_KEY,
        "WARROOM_DATADOG_APP_KEY": datadog_fake.APP_KEY,
        "WARROOM_DATADOG_API_URL": fake.base,
        "WARROOM_LOG_LEVEL": "WARNING",
    }
    return Policy.model_validate(raw), env


def _read(db_url: str) -> tuple[DatadogMirror, Incident]:
    eng = make_engine(db_url)
    try:
        with session_factory(eng)() as s:
            row, inc = s.get(DatadogMirror, 1), s.get(Incident, 1)
            assert row is not None and inc is not None
            s.expunge_all()
            return row, inc
    finally:
        eng.dispose()


@pytest.mark.slow
def test_a_worker_killed_after_datadog_created_the_incident_never_duplicates_it(
    db_url: str, fake: DatadogServer, tmp_path: Path
) -> None:
    policy, env = _env(tmp_path, db_url, fake)
    fake.after_create(30)  # Datadog creates it, and the answer never reaches the first worker
    eng = make_engine(db_url)
    try:
        with session_factory(eng).begin() as s:
            incidents.declare(
                s,
                policy=policy,
                now=utcnow(),
                actor="warroom",
                automatic=True,
                data=IncidentCreate(services=["sis"], priority="P1", severity="SEV-1", title="Sign-in down"),
            )
    finally:
        eng.dispose()
    first = start_piped_worker(env)
    try:
        # Datadog created it (its answer is held back 2 s): the worker dies before it hears of it
        assert fake.wait_for(lambda calls: len(fake.incidents) == 1, timeout=20)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    finally:
        stop_procs(first)
    row, inc = _read(db_url)
    assert len(fake.incidents) == 1 and inc.datadog_id is None  # created there, not recorded here
    assert row.create_attempts == 1 and row.lease_until is not None
    second = start_piped_worker(env)
    try:
        deadline = time.monotonic() + 40
        while _read(db_url)[1].datadog_id is None and time.monotonic() < deadline:
            time.sleep(0.2)
        fake.wait_for(lambda calls: any(c.method == "PATCH" and c.ok for c in calls), timeout=10)
    finally:
        stop_procs(second)
    row, inc = _read(db_url)
    (dd_id,) = fake.incidents
    assert inc.datadog_id == dd_id and inc.datadog_public_id == 1
    assert len(fake.creates()) == 1  # the second worker searched for the marker instead of creating again
    assert any("/incidents/search" in c.path for c in fake.calls)
    assert row.state == "linked" and row.synced_version == row.version
    assert fake.state_of(dd_id)["title"] == "Sign-in down"
