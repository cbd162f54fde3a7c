"""Browser sign-in: server-side sessions in a cookie, a CSRF token per session, roles as in the API."""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import Response
from starlette.datastructures import FormData

from warroom.api.deps import get_state
from warroom.api.security import limiter
from warroom.db import unit_of_work
from warroom.users import service as users
from warroom.users import sessions
from warroom.users.models import User, WebSession
from warroom.web.render import page, redirect

COOKIE = "warroom_session"
LOGIN_CSRF_COOKIE = "warroom_login_csrf"

router = APIRouter()


@dataclass(frozen=True)
class WebUser:
    user: User
    session: WebSession

    @property
    def handle(self) -> str:
        return self.user.handle

    @property
    def role(self) -> str:
        return self.user.role

    @property
    def csrf(self) -> str:
        return self.session.csrf_token

    @property
    def can_edit(self) -> bool:
        return users.RANK[self.user.role] >= users.RANK["responder"]


def secure(request: Request) -> bool:
    """Secure cookies when configured (WARROOM_SECURE_COOKIES) or when the request came over https."""
    return bool(get_state(request).settings.secure_cookies) or request.url.scheme == "https"


def current_user(request: Request) -> WebUser | None:
    state = get_state(request)
    with state.read_sessions() as s:
        found = sessions.resolve(s, request.cookies.get(COOKIE), now=state.now())
    return WebUser(user=found[1], session=found[0]) if found else None


def _to_login(request: Request) -> HTTPException:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    location = f"/login?next={quote(target, safe='')}"
    if request.headers.get("hx-request"):
        # htmx requests follow a 303 invisibly and would swap the login page into the panel
        return HTTPException(401, "sign in first", headers={"HX-Redirect": location})
    return HTTPException(303, "sign in first", headers={"Location": location})


def require_user(request: Request) -> WebUser:
    who = current_user(request)
    if who is None:
        raise _to_login(request)
    return who


async def form_data(request: Request) -> FormData:
    return await request.form()


def check_csrf(who: WebUser, form: FormData, request: Request) -> None:
    sent = str(form.get("csrf") or request.headers.get("x-csrf-token") or "")
    if not sent or not hmac.compare_digest(sent.encode(), who.csrf.encode()):
        raise HTTPException(403, "missing or wrong CSRF token: reload the page and try again")


def require_poster(request: Request, form: Annotated[FormData, Depends(form_data)]) -> WebUser:
    """Any signed-in user posting a form with the right CSRF token (logout)."""
    who = require_user(request)
    check_csrf(who, form, request)
    return who


def require_editor(request: Request, form: Annotated[FormData, Depends(form_data)]) -> WebUser:
    """A responder or admin with the right CSRF token; viewers are refused whatever they send."""
    who = require_poster(request, form)
    if not who.can_edit:
        raise HTTPException(403, f"this needs the responder role; you are {who.role}")
    return who


PageUser = Annotated[WebUser, Depends(require_user)]
Editor = Annotated[WebUser, Depends(require_editor)]
Form = Annotated[FormData, Depends(form_data)]


def _safe_next(target: str | None) -> str:
    """Only local paths, so the login form cannot bounce a user to another site."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


def _login_page(request: Request, *, error: str | None = None, status: int = 200, handle: str = "") -> Response:
    token = secrets.token_urlsafe(32)
    response = page(
        request,
        "login.html",
        status=status,
        csrf=token,
        error=error,
        handle=handle,
        next=_safe_next(request.query_params.get("next")),
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict", secure=secure(request), path="/login", max_age=3600
    )
    return response


@router.get("/login")
def login_form(request: Request) -> Response:
    if current_user(request) is not None:
        return redirect(_safe_next(request.query_params.get("next")))
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
    addr = request.client.host if request.client else "?"
    lim = limiter(state, "login")
    wait = max(lim.hit(f"h:{handle}"), lim.hit(f"a:{addr}"))
    if wait:  # slows password guessing per account and per address
        return _login_page(
            request, error=f"Too many sign-in attempts; wait {int(wait) + 1} s.", status=429, handle=handle
        )
    with state.read_sessions() as s:
        user = users.by_handle(s, handle) if handle else None
    if not users.check_password(user, password) or user is None:
        return _login_page(request, error="Wrong handle or password.", status=401, handle=handle)
    lifetime = timedelta(hours=state.settings.web_session_hours)
    with unit_of_work(state.sessions) as s:
        _, token = sessions.start(s, user=user, now=state.now(), lifetime=lifetime)
    response = redirect(_safe_next(str(form.get("next") or "")))
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
    with unit_of_work(get_state(request).sessions) as s:
        sessions.end(s, request.cookies.get(COOKIE))
    response = redirect("/login", flash=("ok", "Signed out."))
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="lax", secure=secure(request))
    return response
