"""Claim due outbox rows and deliver them: leases, ordering per (incident, channel), pacing, retries."""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

from sqlalchemy import exists, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased, sessionmaker

from warroom import outage
from warroom.clock import Clock
from warroom.notifications import channels, rules
from warroom.notifications.channels import Outgoing, Permanent, Result, Transient
from warroom.notifications.models import ChannelPace, Notification, SlackThread
from warroom.policy.schema import Policy
from warroom.settings import Settings

log = logging.getLogger(__name__)


def _gate(session: Session, name: str, gap: timedelta, now: datetime) -> bool:
    """Take the channel's send slot if it is free; a slot held by another claimer counts as busy."""
    row = session.scalar(select(ChannelPace).where(ChannelPace.channel == name)
                         .with_for_update(skip_locked=True))
    if row is None:
        if session.scalar(select(func.count()).select_from(ChannelPace).where(ChannelPace.channel == name)):
            return False  # locked by another worker's claim right now
        try:
            with session.begin_nested():
                row = ChannelPace(channel=name, next_at=now)
                session.add(row)
        except IntegrityError:
            return False
    if row.next_at > now:
        return False
    row.next_at = now + gap
    return True


def claim(session: Session, *, policy: Policy, now: datetime, worker_id: str, limit: int) -> list[int]:
    """Lease due rows; only the oldest pending row of each (incident, channel) is eligible."""
    earlier = aliased(Notification)
    blocked = exists().where(earlier.incident_id == Notification.incident_id,
                             earlier.channel == Notification.channel,
                             earlier.state == "pending", earlier.id < Notification.id)
    # a paced channel whose slot is taken is left out, so its backlog cannot starve other channels
    paused = exists().where(ChannelPace.channel == Notification.channel, ChannelPace.next_at > now)
    rows = session.scalars(
        select(Notification)
        .where(Notification.state == "pending", Notification.next_attempt_at <= now,
               or_(Notification.lease_until.is_(None), Notification.lease_until < now), ~blocked, ~paused)
        .order_by(Notification.next_attempt_at, Notification.id)
        .limit(limit)
        .with_for_update(skip_locked=True, of=Notification)
    ).all()
    chosen: list[int] = []
    gated: dict[str, bool] = {}
    for row in rows:
        chan = policy.channels.get(row.channel)
        if chan is None:
            row.state, row.last_error = "dead", f"channel '{row.channel}' is not in the policy"
            continue
        gap = rules.pace(chan, policy.notifications)
        if gap:
            if row.channel in gated:
                continue  # one message per channel per pace slot
            gated[row.channel] = _gate(session, row.channel, gap, now)
            if not gated[row.channel]:
                continue
        row.lease_until = now + policy.notifications.lease
        row.claimed_by = worker_id
        row.attempts += 1
        chosen.append(row.id)
    return chosen


def release(session: Session, *, ids: list[int], worker_id: str) -> None:
    """Give back claimed rows not started (graceful stop): no attempt is charged."""
    if ids:
        session.execute(update(Notification)
                        .where(Notification.id.in_(ids), Notification.claimed_by == worker_id,
                               Notification.state == "pending")
                        .values(lease_until=None, claimed_by=None, attempts=Notification.attempts - 1))


def _outgoing(session: Session, row: Notification) -> Outgoing:
    out = Outgoing(key=row.idempotency_key, event=row.event, text=row.text, payload=dict(row.payload or {}),
                   incident_id=row.incident_id)
    if row.incident_id is not None:
        thread = session.scalar(select(SlackThread).where(SlackThread.incident_id == row.incident_id,
                                                          SlackThread.channel == row.channel))
        if thread is not None:
            out.thread_ts, out.root = thread.ts, (thread.slack_channel, thread.ts)
    return out


def _record_success(session: Session, row: Notification, result: Result, now: datetime) -> None:
    row.state, row.sent_at, row.external_id = "sent", now, result.external_id
    row.lease_until = None
    row.last_error = "; ".join(result.notes) or None
    if result.slack_channel and row.incident_id is not None and result.external_id:
        exists_ = session.scalar(select(SlackThread.id).where(SlackThread.incident_id == row.incident_id,
                                                              SlackThread.channel == row.channel))
        if exists_ is None:
            try:
                with session.begin_nested():
                    session.add(SlackThread(incident_id=row.incident_id, channel=row.channel,
                                            slack_channel=result.slack_channel, ts=result.external_id,
                                            created_at=now))
            except IntegrityError:
                pass


def _record_failure(row: Notification, exc: Exception, policy: Policy, now: datetime) -> None:
    reason = exc.reason if isinstance(exc, channels.DeliveryError) else f"{type(exc).__name__}: {exc}"
    row.lease_until = None
    if isinstance(exc, Permanent):
        row.state, row.last_error = "dead", f"permanent: {reason}"
    elif rules.gives_up(row.attempts, policy.notifications):
        row.state, row.last_error = "dead", f"gave up after {row.attempts} attempts: {reason}"
    else:
        wait = rules.backoff(row.attempts, policy.notifications,
                             retry_after=exc.retry_after if isinstance(exc, Transient) else None)
        row.next_attempt_at, row.last_error = now + wait, f"attempt {row.attempts}: {reason}"
        row.claimed_by = None


def deliver(sessions: sessionmaker[Session], *, settings: Settings, policy: Policy, clock: Clock,
            worker_id: str, row_id: int) -> str:
    """Send one claimed row outside any transaction, then record the outcome if we still hold it."""
    with sessions.begin() as session:
        row = session.get(Notification, row_id)
        if row is None or row.state != "pending" or row.claimed_by != worker_id:
            return "lost"
        out, chan_name, created = _outgoing(session, row), row.channel, row.created_at.isoformat()
    chan = policy.channels[chan_name]
    outcome: Result | Exception
    try:
        outcome = channels.send(settings, chan, out, timeout=policy.notifications.timeout.total_seconds(),
                                now=clock.now().timestamp(), created_at=created)
    except Exception as exc:  # noqa: BLE001 - unknown failures are treated as transient
        outcome = exc
    return _record(sessions, policy=policy, clock=clock, worker_id=worker_id, row_id=row_id, outcome=outcome)


def _record(sessions: sessionmaker[Session], *, policy: Policy, clock: Clock, worker_id: str, row_id: int,
            outcome: Result | Exception) -> str:
    """Record what happened; through a database outage keep trying (up to the lease and 30s more):
    a delivered message whose outcome is lost would be sent again once the lease runs out."""
    deadline = time.monotonic() + policy.notifications.lease.total_seconds() + 30
    wait = 0.2
    while True:
        try:
            return _record_once(sessions, policy=policy, now=clock.now(), worker_id=worker_id, row_id=row_id,
                                outcome=outcome)
        except Exception as exc:
            if not outage.is_outage(exc) or time.monotonic() + wait > deadline:
                raise
            log.warning("notification %s: cannot record the outcome yet (retry in %.1fs): %s", row_id, wait,
                        outage.one_line(exc))
            time.sleep(wait)
            wait = min(wait * 2, 2.0)


def _record_once(sessions: sessionmaker[Session], *, policy: Policy, now: datetime, worker_id: str, row_id: int,
                 outcome: Result | Exception) -> str:
    with sessions.begin() as session:
        row = session.scalar(select(Notification).where(Notification.id == row_id).with_for_update())
        if row is None or row.state != "pending" or row.claimed_by != worker_id:
            log.warning("notification %s: lease lost before recording the outcome", row_id)
            return "lost"
        if isinstance(outcome, Result):
            _record_success(session, row, outcome, now)
        else:
            if not isinstance(outcome, channels.DeliveryError):
                log.exception("notification %s: unexpected error", row_id, exc_info=outcome)
            _record_failure(row, outcome, policy, now)
        return row.state


def run_batch(sessions: sessionmaker[Session], *, settings: Settings, policy: Policy, clock: Clock,
              worker_id: str, stop: threading.Event | None = None) -> int:
    """One claim, then the rows in parallel (a claim holds at most one row per incident and channel,
    so order is kept); on stop, rows not yet started are released."""
    with sessions.begin() as session:
        ids = claim(session, policy=policy, now=clock.now(), worker_id=worker_id,
                    limit=policy.notifications.batch)
    if not ids:
        return 0
    skipped: list[int] = []

    def one(row_id: int) -> int:
        if stop is not None and stop.is_set():
            skipped.append(row_id)
            return 0
        deliver(sessions, settings=settings, policy=policy, clock=clock, worker_id=worker_id, row_id=row_id)
        return 1

    threads = min(policy.notifications.concurrency, len(ids))
    if threads <= 1:
        done = sum(one(i) for i in ids)
    else:
        with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="deliver") as pool:
            done = sum(pool.map(one, ids))
    if skipped:
        with sessions.begin() as session:
            release(session, ids=skipped, worker_id=worker_id)
    return done
