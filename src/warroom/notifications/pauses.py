"""Slack's rate limits are per method and workspace: after a 429 the method rests for every worker.

The rest is a row per method (`slack_method_pauses`), written in the transaction that records the
batch's outcomes and read by each claim; within one batch the senders share it in memory, so the
batch's other rows do not call the method either. A row whose method rests is put back, not failed."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import case, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from warroom.notifications import rules
from warroom.notifications.models import SlackMethodPause
from warroom.policy.schema import Notifications

log = logging.getLogger(__name__)


def api_method(call: Callable[..., Any]) -> str:
    """`client.chat_update` -> `chat.update`: the Web API method a slack_sdk call reaches."""
    name = getattr(call, "__name__", "") or type(call).__name__
    return name.replace("_", ".", 1)


class MethodPauses:
    """The Slack methods resting now (method -> until, epoch seconds) as one batch's senders see them,
    and the 429s they met (method, Retry-After) still to be written for the other workers."""

    def __init__(self, resting: dict[str, float], cfg: Notifications) -> None:
        self._until = dict(resting)
        self._hits: list[tuple[str, float | None]] = []
        self._lock = threading.Lock()
        self.cfg = cfg

    def until(self, method: str, now: float) -> float | None:
        """When `method` may be called again, if it rests at `now`."""
        with self._lock:
            until = self._until.get(method)
        return until if until is not None and until > now else None

    def rest(self, method: str, now: float, retry_after: float | None) -> None:
        """`method` answered 429: leave it alone for Retry-After."""
        until = now + rules.method_pause(retry_after, self.cfg).total_seconds()
        with self._lock:
            self._until[method] = max(until, self._until.get(method, 0.0))
            self._hits.append((method, retry_after))

    def take_hits(self) -> list[tuple[str, float | None]]:
        with self._lock:
            hits, self._hits = self._hits, []
        return hits


def load(session: Session, *, now: datetime, cfg: Notifications) -> MethodPauses:
    """The methods resting at `now`, whoever met their 429."""
    rows = session.execute(
        select(SlackMethodPause.method, SlackMethodPause.until).where(SlackMethodPause.until > now)
    ).all()
    return MethodPauses({method: until.timestamp() for method, until in rows}, cfg)


def record(session: Session, hits: list[tuple[str, float | None]], *, now: datetime, cfg: Notifications) -> None:
    """Write the 429s met: each method rests until the latest end any worker was told (one upsert
    per method, in method order so two workers' transactions cannot deadlock)."""
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    for method, retry_after in sorted(hits, key=lambda hit: (hit[0], -(hit[1] or 0.0))):
        log.warning("Slack %s answered 429 (Retry-After %s): no worker calls it for that long", method, retry_after)
        stmt = insert(SlackMethodPause).values(method=method, until=now + rules.method_pause(retry_after, cfg), hits=1)
        later = case((stmt.excluded.until > SlackMethodPause.until, stmt.excluded.until), else_=SlackMethodPause.until)
        session.execute(
            stmt.on_conflict_do_update(
                index_elements=[SlackMethodPause.method], set_={"until": later, "hits": SlackMethodPause.hits + 1}
            )
        )


def resting(session: Session, now: datetime) -> list[tuple[str, float, int]]:
    """(method, seconds left to rest (0 once over), 429s met) for every method that ever answered 429."""
    rows = session.execute(
        select(SlackMethodPause.method, SlackMethodPause.until, SlackMethodPause.hits).order_by(SlackMethodPause.method)
    ).all()
    return [(method, max((until - now).total_seconds(), 0.0), int(hits)) for method, until, hits in rows]


def as_datetime(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)
