"""Users, passwords and API tokens (stored as SHA-256, compared in constant time)."""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import threading
from collections.abc import Iterable
from datetime import datetime, timedelta
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from warroom.core.errors import Conflict, Invalid, NotFound
from warroom.core.hooks import Deactivation, Hooks
from warroom.core.ratelimit import Slots
from warroom.core.settings import get_settings
from warroom.policy.schema import Policy
from warroom.users.models import ApiToken, User

ROLES = ("viewer", "responder", "admin")
RANK = {role: i for i, role in enumerate(ROLES)}
HANDLE_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
TOUCH_EVERY = timedelta(minutes=1)  # api_tokens.last_used_at is at most this stale
log = logging.getLogger(__name__)
_touched: dict[str, datetime] = {}  # token hash -> when this process last wrote its last_used_at
_touched_lock = threading.Lock()


@cache
def _hasher() -> PasswordHasher:
    """argon2id: RFC 9106's low-memory profile (64 MiB, 3 passes), or OWASP's minimum
    (19 MiB, 2 passes) with WARROOM_PASSWORD_KDF=owasp-minimum on small boxes."""
    if get_settings().password_kdf == "owasp-minimum":
        return PasswordHasher(time_cost=2, memory_cost=19_456, parallelism=1)
    return PasswordHasher()


@cache
def _kdf_slots() -> Slots:
    """Password hashes computed at once in this process (WARROOM_PASSWORD_CONCURRENCY); a few
    more wait up to 10 s, the rest are refused at once (`ratelimit.Busy`), so a flood of sign-ins
    costs at most that many times the KDF's memory."""
    size = get_settings().password_concurrency
    return Slots(size, waiting=4 * size, wait=10.0)


@cache
def _dummy_hash() -> str:
    """Verified against when a user has no password, so a miss costs what a hit costs."""
    return _hasher().hash("not-a-real-password-" + secrets.token_hex(8))


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token(kind: str) -> str:
    return f"wr{'i' if kind == 'ingest' else 'u'}_{secrets.token_urlsafe(32)}"


def count_users(session: Session) -> int:
    return session.scalar(select(func.count(User.id))) or 0


def by_handle(session: Session, handle: str) -> User | None:
    return session.scalar(select(User).where(User.handle == handle.strip().lower()))


def require(session: Session, handle: str) -> User:
    user = by_handle(session, handle)
    if user is None:
        raise NotFound(f"no user '{handle}'")
    return user


def create_user(
    session: Session,
    *,
    now: datetime,
    handle: str,
    role: str = "responder",
    name: str = "",
    email: str | None = None,
    slack_id: str | None = None,
) -> User:
    handle = handle.strip().lower()
    if not HANDLE_RE.match(handle):
        raise Invalid("a handle is 1-64 of a-z, 0-9, '.', '_' or '-'", {"field": "handle"})
    if role not in ROLES:
        raise Invalid(f"role must be one of {', '.join(ROLES)}", {"field": "role"})
    if by_handle(session, handle):
        raise Conflict(f"user '{handle}' already exists")
    user = User(
        handle=handle, role=role, name=name or handle, email=email, slack_id=slack_id, active=True, created_at=now
    )
    session.add(user)
    session.flush()
    return user


def set_active(
    session: Session,
    *,
    user: User,
    active: bool,
    hooks: Hooks,
    policy: Policy,
    actor: str,
    now: datetime,
    replacement: str | None = None,
) -> User:
    """Deactivating asks each domain first (`hooks.deactivation`): someone who commands an
    incident needs a `replacement`, who takes it over in the same transaction."""
    if not active and user.active:
        if replacement is not None and replacement.strip().lower() == user.handle:
            raise Invalid("the new commander must be someone else", {"field": "new_commander"})
        user.active = False  # first: what the hooks write (a hand-over message) no longer pings them
        session.info.get("slack_ids", {}).pop(user.handle, None)
        session.flush()
        for check in hooks.deactivation:
            check(
                session, Deactivation(handle=user.handle, replacement=replacement, actor=actor, now=now, policy=policy)
            )
    user.active = active
    return user


def set_password(user: User, password: str) -> None:
    if len(password) < 8:
        raise Invalid("a password needs at least 8 characters", {"field": "password"})
    with _kdf_slots().hold():
        user.password_hash = _hasher().hash(password)


def check_password(user: User | None, password: str) -> bool:
    """Constant work whether or not the user exists, so timing does not reveal handles; raises
    `ratelimit.Busy` when too many checks are already running or waiting."""
    stored = user.password_hash if user and user.active and user.password_hash else None
    with _kdf_slots().hold():
        try:
            return _hasher().verify(stored or _dummy_hash(), password) and stored is not None
        except (VerificationError, InvalidHashError):
            return False


def create_token(
    session: Session, *, now: datetime, user: User | None, kind: str = "user", name: str = ""
) -> tuple[ApiToken, str]:
    """Returns the row and the plain token, which is never stored or shown again."""
    if kind not in ("user", "ingest"):
        raise Invalid("token kind is user or ingest", {"field": "kind"})
    if kind == "user" and user is None:
        raise Invalid("a user token needs a user", {"field": "user"})
    plain = new_token(kind)
    row = ApiToken(
        kind=kind,
        name=name,
        user_id=user.id if user else None,
        token_hash=hash_token(plain),
        prefix=plain[:8],
        created_at=now,
    )
    session.add(row)
    session.flush()
    return row, plain


def resolve_token(session: Session, plain: str) -> ApiToken | None:
    """Look up by hash, then compare digests in constant time."""
    digest = hash_token(plain)
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == digest))
    if row is None or not hmac.compare_digest(row.token_hash, digest) or row.revoked_at:
        return None
    return row


def revoke_token(session: Session, *, now: datetime, token_id: int) -> ApiToken:
    row = session.get(ApiToken, token_id)
    if row is None:
        raise NotFound(f"no token {token_id}")
    if row.revoked_at is None:
        row.revoked_at = now
    return row


def list_tokens(session: Session) -> list[ApiToken]:
    return list(session.scalars(select(ApiToken).order_by(ApiToken.id)))


def _due(digests: Iterable[str], now: datetime) -> list[str]:
    """The tokens this process has not marked used within TOUCH_EVERY (marked now)."""
    due = []
    with _touched_lock:
        if len(_touched) > 10_000:
            _touched.clear()  # bounded; the database's own check still holds
        for digest in sorted(set(digests)):
            last = _touched.get(digest)
            if last is None or not (now - TOUCH_EVERY < last <= now):
                _touched[digest] = now
                due.append(digest)
    return due


def touch_tokens(session: Session, *, digests: Iterable[str], now: datetime) -> int:
    """Record that these tokens (sha256 hashes) were used, at most once a minute each: within the
    minute this process sends nothing, and the statement skips a row another process updated
    within it (or, on PostgreSQL, holds locked right now). Call it last in a transaction (the
    ingest batch): it only ever waits for nothing. Returns the rows updated."""
    due = _due(digests, now)
    if not due:
        return 0
    stale = select(ApiToken.id).where(
        ApiToken.token_hash.in_(due),
        or_(ApiToken.last_used_at.is_(None), ApiToken.last_used_at <= now - TOUCH_EVERY),
    )
    if session.get_bind().dialect.name == "postgresql":
        stale = stale.with_for_update(skip_locked=True)
    result = session.execute(
        update(ApiToken)
        .where(ApiToken.id.in_(stale))
        .values(last_used_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def note_token_used(sessions: sessionmaker[Session], digest: str, *, now: datetime) -> None:
    """`touch_tokens` in a short transaction of its own (an API request's reads must not write);
    best effort: a failure is logged, never the request's."""
    if not _due_soon(digest, now):
        return
    try:
        with sessions.begin() as session:
            touch_tokens(session, digests=[digest], now=now)
    except SQLAlchemyError as exc:
        log.warning("could not record the use of token %s...: %s", digest[:8], type(exc).__name__)


def _due_soon(digest: str, now: datetime) -> bool:
    """Without marking it: most requests skip the transaction altogether."""
    with _touched_lock:
        last = _touched.get(digest)
    return last is None or not (now - TOUCH_EVERY < last <= now)
