"""Claim due outbox rows and deliver them: leases, ordering per (incident, channel), pacing, retries."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import case, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session, sessionmaker

from warroom.core import metrics, outage
from warroom.core.clock import Clock, as_utc
from warroom.core.settings import Settings
from warroom.notifications import channels, pauses, rules
from warroom.notifications.channels import Permanent, Result, Transient
from warroom.notifications.claims import Claimed, claim, load, release
from warroom.notifications.models import Notification, SlackRoom, SlackThread
from warroom.policy.durations import format_duration
from warroom.policy.schema import Policy

log = logging.getLogger(__name__)
_T = TypeVar("_T")


def _failure_values(attempts: int, exc: Exception, policy: Policy, now: datetime, queued: datetime) -> dict[str, Any]:
    reason = exc.reason if isinstance(exc, channels.DeliveryError) else f"{type(exc).__name__}: {exc}"
    if isinstance(exc, channels.Paused):  # not tried: back in the queue for the method's rest, uncounted
        return {
            "next_attempt_at": pauses.as_datetime(exc.until),
            "attempts": Notification.attempts - 1,
            "lease_until": None,
            "claimed_by": None,
        }
    if isinstance(exc, Permanent):
        return {"state": "dead", "last_error": f"permanent: {reason}", "lease_until": None}
    if rules.gives_up(attempts, policy.notifications, age=now - queued):
        took = format_duration(max(now - queued, timedelta(0)))
        return {
            "state": "dead",
            "last_error": f"gave up after {attempts} attempts in {took}: {reason}",
            "lease_until": None,
        }
    wait = rules.backoff(
        attempts, policy.notifications, retry_after=exc.retry_after if isinstance(exc, Transient) else None
    )
    return {
        "next_attempt_at": now + wait,
        "last_error": f"attempt {attempts}: {reason}",
        "lease_until": None,
        "claimed_by": None,
    }


def _record(
    session: Session, item: Claimed, outcome: Result | Exception, *, policy: Policy, worker_id: str, now: datetime
) -> str:
    """One conditional UPDATE: only while we still hold the lease (else another worker owns the row)."""
    if isinstance(outcome, Result):
        values: dict[str, Any] = {
            "state": "sent",
            "sent_at": now,
            "external_id": outcome.external_id,
            "lease_until": None,
            "last_error": "; ".join(outcome.notes) or None,
        }
    else:
        if not isinstance(outcome, channels.DeliveryError):
            log.error("notification %s: unexpected error", item.id, exc_info=outcome)
        values = _failure_values(item.attempts, outcome, policy, now, as_utc(datetime.fromisoformat(item.created_at)))
    updated: CursorResult[Any] = session.execute(
        update(Notification)
        .where(
            Notification.id == item.id,
            Notification.claimed_by == worker_id,
            Notification.state == "pending",
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )  # type: ignore[assignment]
    if not updated.rowcount:
        log.warning("notification %s: lease lost before recording the outcome", item.id)
        return "lost"
    if values.get("state") == "dead":
        log.warning(
            "notification %s to '%s' is dead (%s); once fixed: warroom notifications retry %s",
            item.id,
            item.channel,
            values["last_error"],
            item.id,
        )
    incident_id = item.out.incident_id
    if (
        isinstance(outcome, Result)
        and outcome.slack_channel
        and incident_id is not None
        and outcome.external_id
        and item.out.thread_ts is None
    ):
        insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
        session.execute(
            insert(SlackThread)
            .values(
                incident_id=incident_id,
                channel=item.channel,
                slack_channel=outcome.slack_channel,
                ts=outcome.external_id,
                created_at=now,
            )
            .on_conflict_do_nothing()
        )
    return str(values.get("state", "pending"))


def _record_sent(session: Session, sent: list[tuple[Claimed, Result]], *, worker_id: str, now: datetime) -> list[int]:
    """Mark rows sent in one UPDATE (only those we still hold) and start their Slack threads."""
    ids = [item.id for item, _ in sent]
    values: dict[str, Any] = {"state": "sent", "sent_at": now, "lease_until": None}
    for column, per_row in (
        ("external_id", {item.id: r.external_id for item, r in sent}),
        ("last_error", {item.id: "; ".join(r.notes) or None for item, r in sent}),
    ):
        known = {k: v for k, v in per_row.items() if v is not None}
        values[column] = case(known, value=Notification.id, else_=None) if known else None
    stmt = (
        update(Notification)
        .where(Notification.id.in_(ids), Notification.claimed_by == worker_id, Notification.state == "pending")
        .values(**values)
        .returning(Notification.id)
        .execution_options(synchronize_session=False)
    )
    recorded = set(session.scalars(stmt))
    for row_id in sorted(set(ids) - recorded):
        log.warning("notification %s: lease lost before recording the outcome", row_id)
    threads = [
        {
            "incident_id": item.out.incident_id,
            "channel": item.channel,
            "slack_channel": r.slack_channel,
            "ts": r.external_id,
            "created_at": now,
        }
        for item, r in sent
        if item.id in recorded
        and r.slack_channel
        and r.external_id
        and item.out.incident_id is not None
        and item.out.thread_ts is None
    ]
    if threads:
        insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
        session.execute(insert(SlackThread).on_conflict_do_nothing(), threads)
    for item, r in sent:  # the incident's own channel: made (its id, its card) or archived
        if r.room and item.id in recorded and item.out.incident_id is not None:
            values = {"archived_at": now} if r.room.get("archived") else dict(r.room)
            session.execute(update(SlackRoom).where(SlackRoom.incident_id == item.out.incident_id).values(**values))
    for item, r in sent:  # a fresh card replaced a deleted first message: the thread goes on under it
        if r.reroot and item.id in recorded and r.slack_channel and r.external_id and item.out.incident_id:
            session.execute(
                update(SlackThread)
                .where(SlackThread.incident_id == item.out.incident_id, SlackThread.channel == item.channel)
                .values(slack_channel=r.slack_channel, ts=r.external_id)
            )
    return sorted(recorded)


def _send(
    settings: Settings, policy: Policy, clock: Clock, item: Claimed, resting: pauses.MethodPauses | None
) -> Result | Exception:
    chan = policy.channels[item.channel]
    try:
        return channels.send(
            settings,
            chan,
            item.out,
            timeout=policy.notifications.timeout.total_seconds(),
            now=clock.now().timestamp(),
            created_at=item.created_at,
            resting=resting,
        )
    except Exception as exc:  # noqa: BLE001 - unknown failures are treated as transient
        return exc


def _observe(items: list[Claimed], now: datetime) -> None:
    """Delivery latency for /metrics, once each row's outcome is committed."""
    for item in items:
        seconds = (now - as_utc(datetime.fromisoformat(item.created_at))).total_seconds()
        metrics.NOTIFICATION_LATENCY.labels(channel=item.channel).observe(max(seconds, 0.0))


def through_outage(record: Callable[[], _T], *, policy: Policy, what: str) -> _T:
    """Record a delivery's outcome; through a database outage keep trying (up to the lease and 30s
    more): a delivered message whose outcome is lost would be sent again once the lease runs out."""
    deadline = time.monotonic() + policy.notifications.lease.total_seconds() + 30
    wait = 0.2
    while True:
        try:
            return record()
        except Exception as exc:
            if not outage.is_outage(exc) or time.monotonic() + wait > deadline:
                raise
            log.warning("%s: cannot record the outcome yet (retry in %.1fs): %s", what, wait, outage.one_line(exc))
            time.sleep(wait)
            wait = min(wait * 2, 2.0)


# Outcomes that arrive within this of the first are recorded in one transaction: one commit per
# message was most of a PostgreSQL worker's time at 100 messages/s.
RECORD_LINGER_S = 0.025
_POOLS: dict[int, ThreadPoolExecutor] = {}
_POOLS_LOCK = threading.Lock()


def _pool(size: int) -> ThreadPoolExecutor:
    """One long-lived pool per size (threads are reused from batch to batch)."""
    with _POOLS_LOCK:
        if size not in _POOLS:
            _POOLS[size] = ThreadPoolExecutor(max_workers=size, thread_name_prefix="deliver")
        return _POOLS[size]


def run_batch(
    sessions: sessionmaker[Session],
    *,
    settings: Settings,
    policy: Policy,
    clock: Clock,
    worker_id: str,
    stop: threading.Event | None = None,
) -> int:
    """One claim, then the rows in parallel (a claim holds at most one row per incident and channel,
    so order is kept); outcomes are recorded as they arrive, those that arrived together in one
    transaction; on stop, rows not yet started are released."""
    with sessions.begin() as session:
        now = clock.now()
        ids = claim(session, policy=policy, now=now, worker_id=worker_id, limit=policy.notifications.batch)
        items = load(session, ids)
        slack = any(policy.channels[item.channel].type == "slack" for item in items)
        resting = pauses.load(session, now=now, cfg=policy.notifications) if slack else None
    if not items:
        return 0
    outcomes: queue.SimpleQueue[tuple[Claimed, Result | Exception | None]] = queue.SimpleQueue()

    def one(item: Claimed) -> None:
        outcome = None
        try:
            if stop is None or not stop.is_set():
                outcome = _send(settings, policy, clock, item, resting)
        finally:
            outcomes.put((item, outcome))

    if min(policy.notifications.concurrency, len(items)) <= 1:
        for item in items:
            one(item)
    else:
        pool = _pool(policy.notifications.concurrency)
        for item in items:
            pool.submit(one, item)
    skipped: list[int] = []
    done, remaining = 0, len(items)
    while remaining:
        got = [outcomes.get()]
        linger = time.monotonic() + RECORD_LINGER_S
        while len(got) < remaining and (wait := linger - time.monotonic()) > 0:
            try:
                got.append(outcomes.get(timeout=wait))
            except queue.Empty:
                break
        remaining -= len(got)
        skipped += [item.id for item, outcome in got if outcome is None]
        sent = [(item, outcome) for item, outcome in got if outcome is not None]
        if sent:
            hits = resting.take_hits() if resting is not None else []  # 429s met so far: rest for all workers

            def record(
                sent: list[tuple[Claimed, Result | Exception]] = sent, hits: list[tuple[str, float | None]] = hits
            ) -> list[Claimed]:
                with sessions.begin() as session:
                    now = clock.now()
                    ok = [(item, outcome) for item, outcome in sent if isinstance(outcome, Result)]
                    recorded = set(_record_sent(session, ok, worker_id=worker_id, now=now)) if ok else set()
                    for item, outcome in sent:
                        if not isinstance(outcome, Result):
                            _record(session, item, outcome, policy=policy, worker_id=worker_id, now=now)
                    if hits:
                        pauses.record(session, hits, now=now, cfg=policy.notifications)
                return [item for item, _ in ok if item.id in recorded]

            _observe(through_outage(record, policy=policy, what=f"{len(sent)} notifications"), clock.now())
            done += len(sent)
    if skipped:
        with sessions.begin() as session:
            release(session, ids=skipped, worker_id=worker_id)
    return done
