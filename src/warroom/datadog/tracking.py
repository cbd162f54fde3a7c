"""Mark an incident's mirror row dirty in the very transaction that changed the incident.

Every entry point (API, web, CLI, Slack, jobs) changes incidents through the ORM; a flush listener
sees each change whatever use case made it, so no use case has to remember the mirror. The row is
an upsert that only moves `version`: a burst of changes is one dirty row, and the worker sends the
latest state once (coalescing), one incident at a time (ordering)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, inspect
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, SessionTransaction

from warroom.datadog.models import DatadogMirror
from warroom.incidents.models import Incident

# What Datadog shows of ours: a change to any of these is mirrored.
MIRRORED = (
    "title",
    "state",
    "severity",
    "priority",
    "commander",
    "users_impacted",
    "impacts",
    "first_alert_at",
    "declared_at",
    "resolved_at",
    "pending_tasks",
)
QUIET = "datadog_quiet"  # session.info key: changes applied from Datadog itself are not sent back


def quiet(session: Session) -> None:
    """The rest of this transaction applies Datadog's own changes: do not mirror them back (no ping-pong)."""
    session.info[QUIET] = True


def _changed(obj: Incident, new: bool) -> bool:
    if new:
        return True
    state = inspect(obj)
    return any(state.attrs[name].history.has_changes() for name in MIRRORED)


def _after_flush(session: Session, context: Any) -> None:
    if session.info.get(QUIET):
        return
    new = session.new  # a fresh set each time it is read: once per flush, not once per incident
    ids = sorted(
        {o.id for o in new if isinstance(o, Incident) and o.id is not None}
        | {o.id for o in session.dirty if isinstance(o, Incident) and o.id is not None and _changed(o, False)}
    )
    if not ids:
        return
    connection = session.connection()
    insert = pg_insert if connection.dialect.name == "postgresql" else sqlite_insert
    stmt = insert(DatadogMirror).values([{"incident_id": i, "version": 1, "synced_version": 0} for i in ids])
    stmt = stmt.on_conflict_do_update(index_elements=["incident_id"], set_={"version": DatadogMirror.version + 1})
    connection.execute(stmt)


def _transaction_end(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:  # quiet lasts one transaction, whatever reuses the session next
        session.info.pop(QUIET, None)


def install() -> None:
    """Listen on every session of this process (idempotent: the wiring may be built more than once)."""
    if not event.contains(Session, "after_flush", _after_flush):
        event.listen(Session, "after_flush", _after_flush)
        event.listen(Session, "after_transaction_end", _transaction_end)
