"""Wake the workers as soon as a transaction that queued work commits, instead of at their next poll.

A use case that writes an outbox row or a due-now row calls `mark(session)`. When that transaction
commits, every worker of this process is woken at once (`after_commit`), and on PostgreSQL a
`NOTIFY warroom_wake` sent inside the same transaction (so it is delivered only if it commits)
wakes the workers of other processes, which `listen` for it. Polling stays the fallback: a lost
notification (a listener reconnecting, SQLite across processes) costs at most one poll interval.
"""

from __future__ import annotations

import logging
import threading
import weakref
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from warroom.core.db import is_sqlite

log = logging.getLogger(__name__)
CHANNEL = "warroom_wake"
_KEY = "warroom_wake"
_waiters: weakref.WeakSet[threading.Event] = weakref.WeakSet()  # a dropped worker needs no unsubscribe
_lock = threading.Lock()


def mark(session: Session) -> None:
    """This transaction queued work a worker should pick up as soon as it commits."""
    session.info[_KEY] = True


def subscribe() -> threading.Event:
    """An event set at every wake of this process (one per worker loop)."""
    waiter = threading.Event()
    with _lock:
        _waiters.add(waiter)
    return waiter


def poke() -> None:
    """Wake every worker of this process."""
    with _lock:
        waiters = list(_waiters)
    for waiter in waiters:
        waiter.set()


def _before_commit(session: Session) -> None:
    if session.info.get(_KEY) and session.get_bind().dialect.name == "postgresql":
        session.execute(text(f"NOTIFY {CHANNEL}"))  # delivered to listeners only if this commits


def _after_commit(session: Session) -> None:
    if session.info.pop(_KEY, None):
        poke()


def _after_rollback(session: Session, previous: Any) -> None:
    if previous.parent is None:  # the whole transaction; a savepoint's rollback keeps the mark
        session.info.pop(_KEY, None)


def attach(factory: sessionmaker[Session]) -> sessionmaker[Session]:
    """Make the factory's sessions wake workers on commit (`core.db.session_factory` does it)."""
    event.listen(factory, "before_commit", _before_commit)
    event.listen(factory, "after_commit", _after_commit)
    event.listen(factory, "after_soft_rollback", _after_rollback)
    return factory


def listen(database_url: str, stop: threading.Event, *, retry_s: float = 2.0) -> None:
    """LISTEN on PostgreSQL and poke this process's workers at each notification, until `stop`;
    reconnects after a failure (polling covers the gap). Runs in a thread of its own."""
    import psycopg

    url = make_url(database_url).set(drivername="postgresql")
    dsn = url.render_as_string(hide_password=False)
    while not stop.is_set():
        try:
            with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as conn:
                conn.execute(f"LISTEN {CHANNEL}")
                poke()  # anything committed while we were not listening
                while not stop.is_set():
                    for _ in conn.notifies(timeout=0.5, stop_after=1):
                        poke()
        except Exception as exc:  # noqa: BLE001 - a restart of the database: reconnect, poll meanwhile
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            log.warning("wake listener: %s (reconnecting in %.0fs)", first, retry_s)
            stop.wait(retry_s)


def start_listener(database_url: str, stop: threading.Event) -> threading.Thread | None:
    """A daemon thread listening for other processes' commits (PostgreSQL only)."""
    if is_sqlite(database_url):
        return None
    thread = threading.Thread(target=listen, args=(database_url, stop), name="warroom-wake", daemon=True)
    thread.start()
    return thread
