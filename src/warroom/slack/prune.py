"""Forget the requests Slack sent once no retry or double click of theirs can come (a worker task)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.orm import Session, sessionmaker

from warroom.core.hooks import WorkerContext
from warroom.slack.models import SlackRequest

EVERY = timedelta(minutes=10)
_next: dict[sessionmaker[Session], datetime] = {}


def worker_task(ctx: WorkerContext) -> int:
    now = ctx.clock.now()
    if _next.get(ctx.sessions, now) > now:
        return 0
    _next[ctx.sessions] = now + EVERY
    cutoff = now - ctx.policy.slack.remember_requests
    with ctx.sessions.begin() as session:
        done = session.execute(delete(SlackRequest).where(SlackRequest.created_at < cutoff))
        return int(getattr(done, "rowcount", 0) or 0)
