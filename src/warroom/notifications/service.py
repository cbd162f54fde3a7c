"""Write outbox rows in the caller's transaction; delivery is the worker's job."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from warroom.core import wake
from warroom.core.errors import Conflict, NotFound
from warroom.notifications.models import Notification
from warroom.policy.schema import Policy


def enqueue(
    session: Session,
    *,
    policy: Policy,
    now: datetime,
    event: str,
    text: str,
    incident_id: int | None = None,
    payload: dict[str, Any] | None = None,
    channels: list[str] | None = None,
) -> list[Notification]:
    """One pending row per channel routed for `event`; nothing leaves before commit (which wakes the workers)."""
    rows = []
    for channel in channels if channels is not None else policy.channels_for(event):
        row = Notification(
            idempotency_key=uuid.uuid4().hex,
            incident_id=incident_id,
            event=event,
            channel=channel,
            text=text,
            payload=payload or {},
            state="pending",
            attempts=0,
            next_attempt_at=now,
            created_at=now,
        )
        session.add(row)
        rows.append(row)
    if rows:
        wake.mark(session)
    return rows


def obsolete(
    session: Session,
    *,
    incident_id: int,
    now: datetime,
    reason: str,
    events: tuple[str, ...],
    automatic_updates: bool = False,
    payload_match: dict[str, Any] | None = None,
) -> int:
    """Drop an incident's undelivered rows whose reason is gone (state `obsolete`, never sent):
    rows of `events` (those whose payload holds `payload_match`), and automatic `update`s when
    asked. Written in the caller's transaction, so a late worker finds them already dropped."""
    # Never wait for a worker: a row in flight (leased, or locked by a claim or a record) is left to
    # it; waiting here, under the caller's incident lock, deadlocks with a worker whose record starts
    # a Slack thread (its foreign key check wants that incident row).
    rows = session.scalars(
        select(Notification)
        .where(
            Notification.incident_id == incident_id,
            Notification.state == "pending",
            Notification.event.in_([*events, "update"] if automatic_updates else list(events)),
            or_(Notification.lease_until.is_(None), Notification.lease_until < now),
        )
        .with_for_update(skip_locked=True)
    ).all()
    dropped = 0
    for row in rows:
        data = row.payload or {}
        if row.event == "update" and row.event not in events and not data.get("automatic"):
            continue
        if payload_match and any(data.get(k) != v for k, v in payload_match.items()):
            continue
        row.state, row.lease_until, row.claimed_by = "obsolete", None, None
        row.last_error = f"obsolete at {now.strftime('%Y-%m-%d %H:%M:%S')} UTC: {reason}"
        dropped += 1
    return dropped


def list_notifications(
    session: Session, *, state: str | None = None, incident_id: int | None = None, limit: int = 100, offset: int = 0
) -> tuple[list[Notification], int]:
    """Newest first."""
    stmt = select(Notification)
    if state:
        stmt = stmt.where(Notification.state.in_(state.split(",")))
    if incident_id is not None:
        stmt = stmt.where(Notification.incident_id == incident_id)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.scalars(stmt.order_by(Notification.id.desc()).offset(offset).limit(limit)).all()
    return list(rows), total


def get(session: Session, notification_id: int, *, for_update: bool = False) -> Notification:
    stmt = select(Notification).where(Notification.id == notification_id)
    row = session.scalar(stmt.with_for_update() if for_update else stmt)
    if row is None:
        raise NotFound(f"no notification {notification_id}")
    return row


def retry(session: Session, *, notification_id: int, now: datetime) -> Notification:
    """Put a dead row back in the queue with a fresh attempt budget. Only a dead one: a sent row
    stays sent, and a pending one may be in a worker's hands right now (taking it back would let
    a second worker send it again)."""
    row = get(session, notification_id, for_update=True)
    if row.state == "sent":
        raise Conflict(f"notification {notification_id} was already sent", {"state": row.state})
    if row.state != "dead":
        raise Conflict(f"notification {notification_id} is {row.state}, not dead", {"state": row.state})
    row.state, row.attempts, row.next_attempt_at = "pending", 0, now
    row.lease_until, row.claimed_by = None, None
    row.last_error = f"retried by hand; before: {row.last_error}" if row.last_error else None
    return row


@dataclass(frozen=True)
class ChannelTrouble:
    """A channel that is failing now: messages in retry (`since` = the oldest) or dead ones."""

    channel: str
    retrying: int
    waiting: int
    dead: int
    since: datetime | None
    last_error: str | None


def failing_channels(session: Session) -> list[ChannelTrouble]:
    """Channels with a message whose last attempt failed and that is still being retried, or with
    dead messages; shown as a banner in the web UI, on /healthz (degraded) and in /metrics."""
    failing = (Notification.state == "pending") & (Notification.attempts > 0) & Notification.last_error.is_not(None)
    stats: dict[str, dict[str, Any]] = {}
    for channel, retrying, since in session.execute(
        select(Notification.channel, func.count(), func.min(Notification.created_at))
        .where(failing)
        .group_by(Notification.channel)
    ):
        stats[channel] = {"retrying": int(retrying), "since": since, "dead": 0}
    for channel, dead in session.execute(
        select(Notification.channel, func.count()).where(Notification.state == "dead").group_by(Notification.channel)
    ):
        stats.setdefault(channel, {"retrying": 0, "since": None})["dead"] = int(dead)
    out = []
    for channel in sorted(stats):
        got = stats[channel]
        waiting = session.scalar(
            select(func.count()).where(Notification.channel == channel, Notification.state == "pending")
        )
        last = session.scalar(
            select(Notification.last_error)
            .where(Notification.channel == channel, Notification.state.in_(("pending", "dead")))
            .where(Notification.last_error.is_not(None))
            .order_by(Notification.id.desc())
            .limit(1)
        )
        out.append(ChannelTrouble(channel, got["retrying"], int(waiting or 0), got["dead"], got["since"], last))
    return out


def dead_count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Notification).where(Notification.state == "dead")) or 0
