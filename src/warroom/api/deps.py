"""Request dependencies: the app's state, one unit of work per request, and who is asking."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import parse_qs

from fastapi import Depends, HTTPException, Request
from sqlalchemy.orm import Session

from warroom.core.state import AppState
from warroom.core.uow import UnitOfWork, read_only
from warroom.users import service as users
from warroom.users.models import ApiToken, User


def get_state(request: Request) -> AppState:
    state: AppState = request.app.state.warroom
    return state


State = Annotated[AppState, Depends(get_state)]


_MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def _write_session(request: Request) -> Iterator[Session]:
    """One unit of work per request; it writes the audit row (who, `api`) and commits before the
    response is sent, so a 2xx means committed. Ingest tokens are not audited (alerts are their
    own record)."""
    state = get_state(request)
    route = request.scope.get("route")
    target = next(iter(request.path_params.values()), None) if request.path_params else None
    uow = UnitOfWork(
        state.sessions,
        clock=state.clock,
        channel="api",
        action=f"{request.method} {getattr(route, 'path', request.url.path)}",
        target=str(target) if target else None,
        details={"path": request.url.path},
        audit="always" if request.method in _MUTATING else "never",
    )
    with uow as session:
        yield session
        principal = getattr(request.state, "principal", None)
        if principal is not None and principal.kind != "ingest":
            uow.actor = principal.handle


def _read_session(request: Request) -> Iterator[Session]:
    with read_only(get_state(request).read_sessions) as session:
        yield session


# scope="function": the commit happens before the response is sent.
DB = Annotated[Session, Depends(_write_session, scope="function")]
ReadDB = Annotated[Session, Depends(_read_session, scope="function")]


@dataclass(frozen=True)
class Principal:
    user: User | None
    token: ApiToken | None
    kind: str  # user | ingest | session

    @property
    def handle(self) -> str:
        return self.user.handle if self.user else f"ingest:{self.token.name if self.token else '?'}"

    @property
    def role(self) -> str:
        return self.user.role if self.user else "ingest"


def token_from_request(request: Request) -> str | None:
    return token_of(request.headers.get("authorization", ""), request.scope.get("query_string", b""))


def token_of(authorization: str, query_string: bytes) -> str | None:
    """Bearer header, basic-auth password, or `?token=` (for senders that only take a URL); on raw
    values, so the webhook gate reads it without a Request object."""
    scheme, _, value = authorization.partition(" ")
    value = value.strip()
    if value and scheme.lower() == "bearer":
        return value
    if value and scheme.lower() == "basic":
        try:
            return base64.b64decode(value, validate=True).decode().partition(":")[2] or None
        except (ValueError, UnicodeDecodeError):
            return None
    if b"token=" not in query_string:
        return None
    found = parse_qs(query_string.decode("latin-1"), keep_blank_values=True).get("token")
    return found[-1] or None if found else None  # the last one, as Starlette's query_params


def _unauthorized(message: str) -> HTTPException:
    return HTTPException(401, message, headers={"WWW-Authenticate": "Bearer"})


def authenticate(request: Request, session: Session) -> Principal:
    plain = token_from_request(request)
    if not plain:
        raise _unauthorized("missing API token: send 'Authorization: Bearer <token>'")
    row = users.resolve_token(session, plain)
    if row is None:
        raise _unauthorized("invalid or revoked API token")
    if row.kind == "ingest":
        principal = Principal(user=None, token=row, kind="ingest")
    else:
        user = session.get(User, row.user_id) if row.user_id else None
        if user is None or not user.active:
            raise _unauthorized("the token's user is disabled")
        principal = Principal(user=user, token=row, kind="user")
    request.state.principal = principal
    state = get_state(request)
    users.note_token_used(state.sessions, row.token_hash, now=state.now())  # at most once a minute
    return principal


def require_role(role: str) -> Callable[..., Principal]:
    """A dependency that admits user tokens with at least `role`; ingest tokens never pass."""

    def dependency(request: Request, session: ReadDB) -> Principal:
        principal = authenticate(request, session)
        if principal.kind == "ingest":
            raise HTTPException(403, "ingest tokens can only send alerts to /api/v1/ingest/*")
        if users.RANK[principal.role] < users.RANK[role]:
            raise HTTPException(403, f"this needs the {role} role; you are {principal.role}")
        return principal

    dependency.__name__ = f"require_{role}"
    return dependency


Viewer = Annotated[Principal, Depends(require_role("viewer"))]
Responder = Annotated[Principal, Depends(require_role("responder"))]
Admin = Annotated[Principal, Depends(require_role("admin"))]
