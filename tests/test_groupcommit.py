"""Group commit on a real database: units share a transaction, a failing unit fails alone."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from warroom.api.groupcommit import GroupCommitter
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
    gate, running = threading.Event(), threading.Event()

    def block(session: Session) -> bool:
        running.set()
        return gate.wait(10)

    blocker = writer.submit(block)
    assert running.wait(10)  # the writer is busy: the next four queue into one batch
    futures = [writer.submit(_put("a")), writer.submit(_put("b", fail=True)),
               writer.submit(_put("c")), writer.submit(_put("a"))]  # duplicate key: fails alone
    gate.set()
    assert blocker.result(10) is True
    assert futures[0].result(10) == "a" and futures[2].result(10) == "c"
    with pytest.raises(RuntimeError, match="unit b failed"):
        futures[1].result(10)
    with pytest.raises(Exception, match="(?i)unique|duplicate"):
        futures[3].result(10)
    with sessions() as s:
        assert sorted(s.scalars(select(AppSetting.key))) == ["a", "c"]
    assert writer.units == 5 and writer.batches == 2  # the blocker, then the four together


def test_writer_restarts_after_idle(sessions: sessionmaker[Session]) -> None:
    writer = GroupCommitter(sessions, idle_exit=0.05)
    assert writer.submit(_put("x")).result(10) == "x"
    threading.Event().wait(0.3)
    assert writer._thread is None
    assert writer.submit(_put("y")).result(10) == "y"
