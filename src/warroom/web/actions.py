"""A browser post as one audited unit of work, and refusals (domain or form validation) as one clear message."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Request
from fastapi.responses import Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from warroom.core.errors import WarroomError
from warroom.web.auth import WebUser, web_uow
from warroom.web.render import redirect


def problem(exc: Exception) -> str:
    """`field: message` for a form's first bad field; a domain refusal's message with what is missing."""
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "form"
        return f"{field}: {first['msg'].removeprefix('Value error, ')}"
    assert isinstance(exc, WarroomError)
    missing = exc.details.get("missing") if isinstance(exc.details, dict) else None
    return f"{exc.message}: {'; '.join(missing)}" if missing else exc.message


def act(
    request: Request,
    who: WebUser,
    back: str,
    work: Callable[[Session], str],
    *,
    passing: tuple[type[Exception], ...] = (),
) -> Response:
    """One audited unit of work per post; a refusal rolls back and comes back as a message on the page
    (`passing`: refusals the caller answers itself, raised after the rollback)."""
    try:
        with web_uow(request, who) as s:
            message = work(s)
    except passing:
        raise
    except (WarroomError, ValidationError) as exc:
        return redirect(back, flash=("error", problem(exc)))
    return redirect(back, flash=("ok", message))
