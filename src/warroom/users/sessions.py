"""Server-side web sessions: the cookie holds a random token, the database holds its hash."""

from __future__ import annotations

import hmac
import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.orm import Session

from warroom.users.models import User, WebSession
from warroom.users.service import hash_token


def start(session: Session, *, user: User, now: datetime, lifetime: timedelta) -> tuple[WebSession, str]:
    """A new session (fresh token on every login, so no fixation); returns the row and the cookie value."""
    session.execute(delete(WebSession).where(WebSession.expires_at < now))
    token = secrets.token_urlsafe(32)
    row = WebSession(
        id=hash_token(token),
        user_id=user.id,
        csrf_token=secrets.token_urlsafe(32),
        created_at=now,
        expires_at=now + lifetime,
    )
    session.add(row)
    session.flush()
    return row, token


def resolve(session: Session, token: str | None, *, now: datetime) -> tuple[WebSession, User] | None:
    """The live session and its active user, or None."""
    if not token or len(token) > 200:
        return None
    digest = hash_token(token)
    row = session.get(WebSession, digest)
    if row is None or not hmac.compare_digest(row.id, digest) or row.expires_at <= now:
        return None
    user = session.get(User, row.user_id)
    if user is None or not user.active:
        return None
    return row, user


def end(session: Session, token: str | None) -> None:
    if token:
        session.execute(delete(WebSession).where(WebSession.id == hash_token(token)))


def end_all_for(session: Session, *, user_id: int) -> None:
    """Used when a password changes: every browser must sign in again."""
    session.execute(delete(WebSession).where(WebSession.user_id == user_id))
