"""Browser sign-in: server-side sessions in a cookie, a CSRF token per session, roles as in the API."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, HTTPException, Request
from starlette.datastructures import FormData

from warroom.api.deps import get_state
from warroom.core.uow import UnitOfWork
from warroom.users import service as users
from warroom.users import sessions
from warroom.users.models import User, WebSession

COOKIE = "warroom_session"
LOGIN_CSRF_COOKIE = "warroom_login_csrf"


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


def safe_next(target: str | None) -> str:
    """Only local paths, so the login form cannot bounce a user to another site."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


def web_uow(request: Request, who: WebUser, *, action: str | None = None) -> UnitOfWork:
    """The unit of work of a browser post: audited as `web`, by the signed-in user."""
    state = get_state(request)
    route = request.scope.get("route")
    target = next(iter(request.path_params.values()), None) if request.path_params else None
    return UnitOfWork(
        state.sessions,
        clock=state.clock,
        channel="web",
        actor=who.handle,
        action=action or f"{request.method} {getattr(route, 'path', request.url.path)}",
        target=str(target) if target else None,
        audit="always",
    )
