"""Jinja2 rendering for the web UI: autoescaped templates, flash messages, no caching."""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any, TypeVar
from urllib.parse import quote, unquote, urlsplit

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markdown_it import MarkdownIt
from markupsafe import Markup

from warroom.api.deps import get_state
from warroom.policy.durations import format_duration

FLASH_COOKIE = "warroom_flash"
PER_PAGE = 50  # rows per page of every list
_md = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")


def markdown(text: str | None) -> Markup:
    """Raw HTML in the Markdown is shown as text (html disabled); unsafe link schemes are dropped."""
    return Markup(_md.render(text or ""))


def is_http_url(value: object) -> bool:
    """Only http(s) URLs become links; anything else (javascript:, data:, a stray space) is shown as text."""
    if not isinstance(value, str) or value != value.strip() or any(ord(c) < 32 for c in value):
        return False
    parts = urlsplit(value)
    return parts.scheme.lower() in ("http", "https") and bool(parts.netloc)


def fmt_dt(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else "–"


def fmt_age(value: datetime | None, now: datetime) -> str:
    return format_duration(now - value) if value else "–"


def due_class(due: datetime | None, now: datetime, remind_before: timedelta) -> str:
    """ok, soon (the reminder has gone out) or overdue."""
    if due is None:
        return "none"
    if now > due:
        return "overdue"
    return "soon" if now >= due - remind_before else "ok"


def due_text(due: datetime | None, now: datetime) -> str:
    if due is None:
        return "no update due"
    left = due - now
    return f"overdue by {format_duration(-left)}" if left.total_seconds() < 0 else f"due in {format_duration(left)}"


@lru_cache(maxsize=4)
def environment(packages: tuple[str, ...]) -> jinja2.Environment:
    """One environment per set of template packages (the wiring's, in order), then web's own base."""
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader([jinja2.PackageLoader(p, "templates") for p in (*packages, "warroom.web")]),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        dt=fmt_dt, md=markdown, dur=format_duration, iso=lambda v: v.isoformat() if v else "", num=lambda v: f"{v:,}"
    )
    env.tests["http_url"] = is_http_url
    env.globals.update(age=fmt_age, due_class=due_class, due_text=due_text)
    return env


R = TypeVar("R", bound=Response)


def no_store(response: R) -> R:
    """Pages show live, per-user state (the security headers are api.security's, on every response)."""
    response.headers.setdefault("Cache-Control", "no-store")
    return response


def read_flash(request: Request) -> tuple[str, str] | None:
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw:
        return None
    kind, _, text = unquote(raw).partition(":")
    return (kind if kind in ("ok", "error") else "ok", text[:2000])


def page(
    request: Request, template: str, status: int = 200, *, flash: tuple[str, str] | None = None, **ctx: Any
) -> HTMLResponse:
    """Render a full page or fragment with the globals every template may use (`flash`: a message now)."""
    state = get_state(request)
    flash = flash or read_flash(request)
    who = ctx.pop("who", None)
    body = (
        environment(state.hooks.templates)
        .get_template(template)
        .render(
            request=request,
            who=who,
            policy=state.policy,
            now=state.now(),
            flash=flash,
            poll_seconds=state.settings.web_poll_seconds,
            remind_seconds=int(state.policy.cadence.remind_before.total_seconds()),
            **ctx,
        )
    )
    response = HTMLResponse(body, status)
    if flash and not request.headers.get("hx-request"):
        response.delete_cookie(FLASH_COOKIE, path="/")
    return no_store(response)


def redirect(url: str, *, flash: tuple[str, str] | None = None) -> RedirectResponse:
    """303 so the browser follows with GET (post/redirect/get)."""
    response = RedirectResponse(url, 303)
    if flash:
        kind, text = flash
        response.set_cookie(
            FLASH_COOKIE, quote(f"{kind}:{text[:1500]}"), max_age=120, httponly=True, samesite="lax", path="/"
        )
    return no_store(response)
