"""The one unit of work every entry point runs its changes through: audit row, then commit, or roll back."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal

from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

from warroom.core import audit
from warroom.core.clock import Clock

Channel = Literal["api", "web", "cli", "slack", "system"]
AuditWhen = Literal["always", "changes", "never"]
SYSTEM_ACTOR = "warroom"  # who automatic changes are by (timeline entries say it too)
_CHANNEL = "warroom.channel"  # the one key of session.info this module owns; read through channel_of


def channel_of(session: Session) -> Channel | None:
    """The entry point the session's unit of work came through, for rows that say where a change
    was made (a timeline entry: "via Slack"); None outside a unit of work (the ingest writer)."""
    got: Channel | None = session.info.get(_CHANNEL)
    return got


@dataclass
class Entry:
    """One audit row to write when the transaction commits."""

    action: str
    target: str | None = None
    details: dict[str, Any] | None = None


class UnitOfWork:
    """`with UnitOfWork(...) as session:` one transaction; on success the audit rows (actor and
    channel) are written in it, then it commits; on any error it rolls back and nothing is kept.

    `audit`: "always" (an accepted API or web request), "changes" (only if something was written:
    a CLI command or a job may only read), "never". The actor may be set after entry (the API
    knows who is asking only once its auth dependency ran); no actor, no audit row."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        clock: Clock,
        channel: Channel,
        actor: str | None = None,
        action: str = "",
        target: str | None = None,
        details: dict[str, Any] | None = None,
        audit: AuditWhen = "changes",
    ) -> None:
        self.sessions, self.clock, self.channel, self.actor = sessions, clock, channel, actor
        self.audit = audit
        self.entries = [Entry(action, target, details)] if action else []
        self.wrote = False
        self._session: Session | None = None

    @property
    def session(self) -> Session:
        if self._session is None:
            raise RuntimeError("the unit of work has not started")
        return self._session

    def note(self, action: str, target: str | None = None, details: dict[str, Any] | None = None) -> None:
        """One more audit row for this transaction (a worker running a batch of jobs)."""
        self.entries.append(Entry(action, target, details))

    def __enter__(self) -> Session:
        self._session = self.sessions()
        self._session.info[_CHANNEL] = self.channel
        if self.audit == "changes":
            event.listen(self._session, "after_flush", self._flushed)
        return self._session

    def _flushed(self, session: Session, context: Any) -> None:
        self.wrote = True

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        session = self.session
        try:
            if kind is None:
                self._record(session)
                session.commit()
            else:
                session.rollback()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def _record(self, session: Session) -> None:
        if self.audit == "never" or self.actor is None or not self.entries:
            return
        if self.audit == "changes" and not (self.wrote or session.new or session.dirty or session.deleted):
            return
        now = self.clock.now()
        for e in self.entries:
            audit.record(
                session,
                now=now,
                actor=self.actor,
                via=self.channel,
                action=e.action[:120],
                target=e.target[:200] if e.target else None,
                details=e.details,
            )


@contextmanager
def read_only(sessions: sessionmaker[Session]) -> Iterator[Session]:
    """A transaction that only reads: closed, never committed (what it loaded stays readable)."""
    session = sessions()
    try:
        yield session
    finally:
        session.close()
