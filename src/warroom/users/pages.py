"""Sign in and out of the web UI (sessions and CSRF live in web.auth)."""

from __future__ import annotations

import hmac
import secrets
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import Response

from warroom.api.deps import get_state
from warroom.core.ratelimit import Busy
from warroom.core.uow import UnitOfWork
from warroom.users import service as users
from warroom.users import sessions
from warroom.web.auth import (
    COOKIE,
    LOGIN_CSRF_COOKIE,
    Form,
    WebUser,
    current_user,
    require_poster,
    safe_next,
    secure,
    web_uow,
)
from warroom.web.render import page, redirect

router = APIRouter()
BUSY_RETRY_S = 2


def _login_page(request: Request, *, error: str | None = None, status: int = 200, handle: str = "") -> Response:
    token = secrets.token_urlsafe(32)
    response = page(
        request,
        "login.html",
        status=status,
        csrf=token,
        error=error,
        handle=handle,
        next=safe_next(request.query_params.get("next")),
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict", secure=secure(request), path="/login", max_age=3600
    )
    return response


@router.get("/login")
def login_form(request: Request) -> Response:
    if current_user(request) is not None:
        return redirect(safe_next(request.query_params.get("next")))
    return _login_page(request)


@router.post("/login")
def login(request: Request, form: Form) -> Response:
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    sent = str(form.get("csrf") or "")
    if not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
        raise HTTPException(403, "missing or wrong CSRF token: reload the sign-in page")
    state = get_state(request)
    handle = str(form.get("handle") or "").strip().lower()[:64]
    password = str(form.get("password") or "")
    addr = request.client.host if request.client else "?"  # the peer, or what a trusted proxy said
    lim = state.login_limiter
    # Per address, and per handle from that address: guessing slows down everywhere, while
    # someone failing as `admin` from one address does not lock the real admin out elsewhere.
    wait = max(lim.hit(f"a:{addr}"), lim.hit(f"h:{handle}@{addr}"))
    if wait:
        return _login_page(
            request, error=f"Too many sign-in attempts; wait {int(wait) + 1} s.", status=429, handle=handle
        )
    with state.read_sessions() as s:
        user = users.by_handle(s, handle) if handle else None
    try:
        right = users.check_password(user, password)
    except Busy:
        busy = _login_page(request, error="Sign-in is busy; try again in a few seconds.", status=503, handle=handle)
        busy.headers["Retry-After"] = str(BUSY_RETRY_S)
        return busy
    if not right or user is None:
        return _login_page(request, error="Wrong handle or password.", status=401, handle=handle)
    lifetime = timedelta(hours=state.settings.web_session_hours)
    with UnitOfWork(state.sessions, clock=state.clock, channel="web", actor=user.handle, action="login") as s:
        _, token = sessions.start(s, user=user, now=state.now(), lifetime=lifetime)
    response = redirect(safe_next(str(form.get("next") or "")))
    response.set_cookie(
        COOKIE,
        token,
        httponly=True,
        samesite="lax",
        secure=secure(request),
        path="/",
        max_age=int(lifetime.total_seconds()),
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


@router.post("/logout")
def logout(request: Request, who: Annotated[WebUser, Depends(require_poster)]) -> Response:
    with web_uow(request, who, action="logout") as s:
        sessions.end(s, request.cookies.get(COOKIE))
    response = redirect("/login", flash=("ok", "Signed out."))
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="lax", secure=secure(request))
    return response
