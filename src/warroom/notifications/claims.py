"""Claiming due outbox rows: leases, order per (incident, channel), a thread's root first, pacing
per channel; and reading what a claimed row needs to be sent, in the claim transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, exists, func, literal_column, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from warroom.notifications import rules
from warroom.notifications.channels import Outgoing
from warroom.notifications.models import ChannelPace, Notification, SlackRoom, SlackThread
from warroom.policy.schema import Policy

ROOMED = frozenset({"card", "room_open", "room_archive"})  # rows that need the incident's own channel


def _gate(session: Session, name: str, gap: timedelta, now: datetime) -> bool:
    """Take the channel's send slot if it is free; a slot held by another claimer counts as busy."""
    row = session.scalar(select(ChannelPace).where(ChannelPace.channel == name).with_for_update(skip_locked=True))
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


def _waiting_for_root(policy: Policy) -> list[ColumnElement[bool]]:
    """On a Slack channel an incident's first message starts its thread: while it is dead (not
    sent) and no thread exists, the incident's later messages there wait for it (retry it), so a
    reminder never becomes the thread's first message in place of the declaration."""
    slack = sorted(name for name, chan in policy.channels.items() if chan.type == "slack")
    if not slack:
        return []
    earlier = aliased(Notification)
    dead_first = exists().where(
        earlier.incident_id == Notification.incident_id,
        earlier.channel == Notification.channel,
        earlier.state == literal_column("'dead'"),
        earlier.id < Notification.id,
    )
    threaded = exists().where(
        SlackThread.incident_id == Notification.incident_id, SlackThread.channel == Notification.channel
    )
    return [~and_(Notification.channel.in_(slack), Notification.incident_id.is_not(None), dead_first, ~threaded)]


def claim(session: Session, *, policy: Policy, now: datetime, worker_id: str, limit: int) -> list[int]:
    """Lease due rows; only the oldest pending row of each (incident, channel) is eligible."""
    earlier = aliased(Notification)
    blocked = exists().where(
        earlier.incident_id == Notification.incident_id,
        earlier.channel == Notification.channel,  # literal: the partial index applies
        earlier.state == literal_column("'pending'"),
        earlier.id < Notification.id,
    )
    # a paced channel whose slot is taken is left out, so its backlog cannot starve other channels
    paused = exists().where(ChannelPace.channel == Notification.channel, ChannelPace.next_at > now)
    rows = session.scalars(
        select(Notification)
        .where(
            Notification.state == "pending",
            Notification.next_attempt_at <= now,
            or_(Notification.lease_until.is_(None), Notification.lease_until < now),
            ~blocked,
            ~paused,
            *_waiting_for_root(policy),
        )
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
        session.execute(
            update(Notification)
            .where(Notification.id.in_(ids), Notification.claimed_by == worker_id, Notification.state == "pending")
            .values(lease_until=None, claimed_by=None, attempts=Notification.attempts - 1)
        )


@dataclass
class Claimed:
    """Everything needed to send one claimed row, read in the claim transaction (no re-read)."""

    id: int
    channel: str
    attempts: int
    created_at: str
    out: Outgoing


def _outgoing(
    row: Notification,
    threads: dict[tuple[int, str], tuple[str, str]],
    rooms: dict[int, tuple[str | None, str | None]] | None = None,
) -> Outgoing:
    out = Outgoing(
        key=row.idempotency_key,
        event=row.event,
        text=row.text,
        payload=dict(row.payload or {}),
        incident_id=row.incident_id,
    )
    root = threads.get((row.incident_id, row.channel)) if row.incident_id is not None else None
    if root is not None:
        out.thread_ts, out.root = root[1], root
    if rooms and row.incident_id in rooms:
        out.room = rooms[row.incident_id]
    return out


def load(session: Session, ids: list[int]) -> list[Claimed]:
    """The claimed rows (already in the session) and their Slack threads, in one query for the threads."""
    rows = [row for row in (session.get(Notification, i) for i in ids) if row is not None]
    incident_ids = {row.incident_id for row in rows if row.incident_id is not None}
    threads: dict[tuple[int, str], tuple[str, str]] = {}
    if incident_ids:
        for t in session.execute(
            select(SlackThread.incident_id, SlackThread.channel, SlackThread.slack_channel, SlackThread.ts).where(
                SlackThread.incident_id.in_(incident_ids)
            )
        ):
            threads[(t.incident_id, t.channel)] = (t.slack_channel, t.ts)
    rooms: dict[int, tuple[str | None, str | None]] = {}
    if incident_ids and any(row.event in ROOMED for row in rows):
        for r in session.execute(
            select(SlackRoom.incident_id, SlackRoom.slack_channel, SlackRoom.card_ts).where(
                SlackRoom.incident_id.in_(incident_ids)
            )
        ):
            rooms[r.incident_id] = (r.slack_channel, r.card_ts)
    return [
        Claimed(
            id=row.id,
            channel=row.channel,
            attempts=row.attempts,
            created_at=row.created_at.isoformat(),
            out=_outgoing(row, threads, rooms),
        )
        for row in rows
    ]
