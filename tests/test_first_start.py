"""Nodes started together on an empty database (issue 18 item 12): real processes, both databases.

Before: both created the first admin (UniqueViolation uq_users_handle), workers logged "relation
worker_heartbeats does not exist" until someone migrated, and `deploy/Procfile` under honcho
stopped everything when its `migrate` entry exited.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from tests.conftest import IN_CI
from tests.support import databases
from tests.support.procs import Proc, env_for
from tests.support.server import free_port, http_client
from warroom.core.clock import utcnow
from warroom.core.db import make_engine, session_factory
from warroom.users import bootstrap

ROOT = Path(__file__).resolve().parent.parent
PROBLEMS = ("Traceback", "does not exist", "no such table", "UniqueViolation", "IntegrityError", "ERROR")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database of each kind with nothing in it: no schema, no admin."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.db'}"
        return
    reason = databases.postgres_available()
    if reason:
        if IN_CI:
            pytest.fail(f"CI requires PostgreSQL: {reason}")
        pytest.skip(reason)
    url = databases.create_pg_database()
    try:
        yield url
    finally:
        databases.drop_pg_database(url)


def _count(url: str, sql: str) -> int:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(sa.text(sql)).scalar() or 0)
    except sa.exc.DBAPIError:
        return 0  # no such table yet
    finally:
        engine.dispose()


def _until(what: str, check: object, procs: list[Proc], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        dead = [p for p in procs if not p.alive]
        assert not dead, f"{what}: a process exited:\n" + "\n".join(p.log()[-3000:] for p in dead)
        time.sleep(0.2)
    raise AssertionError(f"{what}: not within {timeout}s\n" + "\n---\n".join(p.log()[-2000:] for p in procs))


def _answers(url: str) -> bool:
    try:
        with http_client(timeout=1) as c:
            return c.get(f"{url}/healthz").status_code == 200
    except httpx.HTTPError:
        return False


@pytest.mark.slow
def test_two_nodes_start_together_on_an_empty_database(empty_url: str, tmp_path: Path) -> None:
    """Two `serve` (each migrating) and two workers, all started in the same instant."""
    env = env_for(empty_url, WARROOM_PASSWORD_KDF="owasp-minimum")
    ports = [free_port(), free_port()]
    apis = [
        Proc(["serve", "--no-worker", "--port", str(port)], env, tmp_path / f"api{n}.log")
        for n, port in enumerate(ports)
    ]
    workers = [Proc(["worker"], env, tmp_path / f"worker{n}.log") for n in range(2)]
    procs = [*workers, *apis]  # the workers first: before, they met the tables that did not exist yet
    for proc in procs:
        proc.start()
    try:
        _until("both workers beat", lambda: _count(empty_url, "SELECT COUNT(*) FROM worker_heartbeats") == 2, procs)
        for port in ports:
            _until(f"the API on {port} answers", lambda port=port: _answers(f"http://127.0.0.1:{port}"), procs)
        assert _count(empty_url, "SELECT COUNT(*) FROM users") == 1
        assert _count(empty_url, "SELECT COUNT(*) FROM api_tokens") == 1
        logs = {p.log_path.name: p.log() for p in procs}
        assert sum(text.count("=== warroom first start ===") for text in logs.values()) == 1, logs
        for name, text in logs.items():
            found = [problem for problem in PROBLEMS if problem in text]
            assert not found, f"{name}: {found}\n{text[-3000:]}"
        assert all(p.alive for p in procs)
    finally:
        for proc in procs:
            proc.stop()


@pytest.mark.slow
def test_a_worker_waits_for_the_schema(empty_url: str, tmp_path: Path) -> None:
    """A worker started before anyone migrated says it waits, then works once the schema is there."""
    worker = Proc(["worker"], env_for(empty_url), tmp_path / "worker.log").start()
    try:
        _until("the worker says it waits", lambda: "waiting for the database schema" in worker.log(), [worker])
        time.sleep(1.0)  # a few polls more: it keeps waiting, quietly
        assert worker.log().count("waiting for the database schema") == 1, worker.log()
        done = subprocess.run(
            [sys.executable, "-m", "warroom", "db", "upgrade"], env=env_for(empty_url), capture_output=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
        _until("the worker beats", lambda: _count(empty_url, "SELECT COUNT(*) FROM worker_heartbeats") == 1, [worker])
        assert not [p for p in PROBLEMS if p in worker.log()], worker.log()
    finally:
        worker.stop()
    assert worker.popen is not None and worker.popen.returncode == 0


def test_the_second_first_start_finds_the_first_admin(db_url: str) -> None:
    """Two first starts interleaved by hand: the second waits for the first's commit and creates
    nothing (before, it inserted a second `admin` and failed on the unique handle)."""
    engine = make_engine(db_url)
    sessions = session_factory(engine)
    first_done, second_started = threading.Event(), threading.Event()
    results: dict[str, object] = {}

    def first() -> None:
        with sessions.begin() as s:
            results["first"] = bootstrap.ensure_admin(s, now=utcnow())
            first_done.set()
            second_started.wait(10)
            time.sleep(0.5)  # the second is now waiting on the lock (or, before, on the unique key)

    def second() -> None:
        first_done.wait(10)
        second_started.set()
        try:
            with sessions.begin() as s:
                results["second"] = bootstrap.ensure_admin(s, now=utcnow())
        except Exception as exc:  # noqa: BLE001 - the failure is the finding
            results["second"] = exc

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    finally:
        engine.dispose()
    assert isinstance(results["first"], bootstrap.FirstRun)
    assert results["second"] is None, results["second"]
    assert _count(db_url, "SELECT COUNT(*) FROM users") == 1


def _free_base() -> int:
    """A base port whose +0, +1, +100 and +101 are free (honcho's $PORT for two of each)."""
    for _ in range(50):
        base = random.randint(20_000, 50_000)
        try:
            for port in (base, base + 1, base + 100, base + 101):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", port))
        except OSError:
            continue
        return base
    raise RuntimeError("no free ports")


@pytest.mark.slow
def test_the_procfile_runs_under_honcho_as_documented(empty_url: str, tmp_path: Path) -> None:
    """`honcho start -f deploy/Procfile -c api=2,worker=2 -p N` on an empty database: every
    process stays up (honcho stops them all when one exits), two APIs answer, two workers serve
    their metrics, one admin."""
    honcho = Path(sys.executable).with_name("honcho")
    if not honcho.exists():
        pytest.fail("honcho is a dev dependency (pip install -e '.[dev]')")
    base = _free_base()
    env = env_for(empty_url, WARROOM_PASSWORD_KDF="owasp-minimum")
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"  # `warroom` as installed
    log_path = tmp_path / "honcho.log"
    with open(log_path, "wb") as log:
        run = subprocess.Popen(
            [str(honcho), "start", "-f", str(ROOT / "deploy" / "Procfile"), "-c", "api=2,worker=2", "-p", str(base)],
            cwd=tmp_path,  # no .env of the repository's
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    proc = Proc([], env, log_path)  # for its alive and log(): honcho started it
    proc.popen = run
    try:
        for port in (base, base + 1):
            _until(f"api on {port}", lambda port=port: _answers(f"http://127.0.0.1:{port}"), [proc], timeout=90)
        for port in (base + 100, base + 101):
            _until(f"worker metrics on {port}", lambda port=port: _metrics(port), [proc], timeout=30)
        time.sleep(2.0)
        assert run.poll() is None, log_path.read_text()[-3000:]
        assert _count(empty_url, "SELECT COUNT(*) FROM users") == 1
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGTERM)
            run.wait(timeout=60)
    text = log_path.read_text(errors="replace")
    assert text.count("=== warroom first start ===") == 1, text[-3000:]
    found = [problem for problem in PROBLEMS if problem in text]
    assert not found, f"{found}\n{text[-3000:]}"


def _metrics(port: int) -> bool:
    try:
        with http_client(timeout=1) as c:
            return c.get(f"http://127.0.0.1:{port}/metrics").status_code == 200
    except httpx.HTTPError:
        return False
