"""Group commit on a real database: units share a transaction, a failing unit fails alone."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from warroom.ingest.fastpath.groupcommit import GroupCommitter
from warroom.users.models import AppSetting


def _put(key: str, fail: bool = False):  # type: ignore[no-untyped-def]
    def work(session: Session) -> str:
        session.add(AppSetting(key=key, value="v"))
        session.flush()
        if fail:
            raise RuntimeError(f"unit {key} failed")
        return key

    return work


def test_units_share_one_commit_and_fail_alone(sessions: sessionmaker[Session]) -> None:
    writer = GroupCommitter(sessions, idle_exit=0.5)

    def queued_behind_a_blocker(*units):  # type: ignore[no-untyped-def]
        gate, running = threading.Event(), threading.Event()

        def block(session: Session) -> bool:
            running.set()
            return gate.wait(10)

        blocker = writer.submit(block)
        assert running.wait(10)  # the writer is busy: the next units queue into one batch
        futures = [writer.submit(u) for u in units]
        gate.set()
        assert blocker.result(10) is True
        return futures

    clean = queued_behind_a_blocker(_put("x1"), _put("x2"), _put("x3"))
    assert [f.result(10) for f in clean] == ["x1", "x2", "x3"]
    assert (writer.batches, writer.units, writer.replays) == (2, 4, 0)  # blocker, then the three in one
    futures = queued_behind_a_blocker(
        _put("a"), _put("b", fail=True), _put("c"), _put("a")
    )  # duplicate key: fails alone
    assert futures[0].result(10) == "a" and futures[2].result(10) == "c"
    with pytest.raises(RuntimeError, match="unit b failed"):
        futures[1].result(10)
    with pytest.raises(Exception, match="(?i)unique|duplicate"):
        futures[3].result(10)
    with sessions() as s:
        assert sorted(s.scalars(select(AppSetting.key))) == ["a", "c", "x1", "x2", "x3"]
    # No SAVEPOINT per unit: the failed batch was rolled back and replayed one unit per transaction.
    assert (writer.batches, writer.units, writer.replays) == (2 + 1 + 4, 4 + 1 + 4, 1)


def test_writer_restarts_after_idle(sessions: sessionmaker[Session]) -> None:
    writer = GroupCommitter(sessions, idle_exit=0.05)
    assert writer.submit(_put("x")).result(10) == "x"
    threading.Event().wait(0.3)
    assert writer._thread is None
    assert writer.submit(_put("y")).result(10) == "y"


@pytest.mark.postgres
def test_two_processes_batches_in_opposite_service_order_never_deadlock(pg_url: str) -> None:
    """Two API processes' batches touch services sis+usip in opposite order: the prelock takes a
    batch's service locks in sorted order first, so the second batch waits instead of deadlocking
    (a deadlock would kill one transaction and force a replay)."""
    from tests.support import databases
    from warroom.core.db import session_factory
    from warroom.ingest import grouping

    engines = [databases.engine_for(pg_url), databases.engine_for(pg_url)]
    writers = [GroupCommitter(session_factory(e), prelock=grouping.lock_services, idle_exit=0.5) for e in engines]
    a_holds_first, b_holds_first = threading.Event(), threading.Event()

    def unit(service: str, mine: threading.Event | None, theirs: threading.Event | None):  # type: ignore[no-untyped-def]
        def work(session: Session) -> str:
            grouping.lock_service(session, service)
            if mine is not None and theirs is not None:
                mine.set()
                theirs.wait(1.5)  # without the prelock, both now hold one lock and want the other
            return service

        return work

    gates = [threading.Event(), threading.Event()]
    blockers = [w.submit(lambda s, g=g: g.wait(10)) for w, g in zip(writers, gates, strict=True)]
    futures = [
        writers[0].submit(unit("sis", a_holds_first, b_holds_first), ["sis"]),
        writers[0].submit(unit("usip", None, None), ["usip"]),
        writers[1].submit(unit("usip", b_holds_first, a_holds_first), ["usip"]),
        writers[1].submit(unit("sis", None, None), ["sis"]),
    ]
    for gate in gates:
        gate.set()
    try:
        assert [f.result(30) for f in futures] == ["sis", "usip", "usip", "sis"]
        assert all(b.result(10) for b in blockers)
        assert [w.replays for w in writers] == [0, 0], "a batch lost a lock race and was replayed"
        assert [w.batches for w in writers] == [2, 2]  # each writer: the blocker, then both units
    finally:
        for e in engines:
            e.dispose()
