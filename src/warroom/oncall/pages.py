"""The on-call page: per schedule who is on call, the next 14 days and their gaps, overrides."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import Response
from markupsafe import Markup

from warroom.api.deps import get_state
from warroom.core.errors import Invalid, WarroomError
from warroom.oncall import service as oncall
from warroom.oncall import views
from warroom.web.auth import Editor, Form, PageUser, WebUser, web_uow
from warroom.web.render import page, redirect

router = APIRouter()
DAYS = 14
FIELDS = ("schedule", "user", "start", "end", "timezone", "note")


def _status(exc: WarroomError) -> int:
    return {"not_found": 404, "conflict": 409}.get(exc.code, 422)


def _render(
    request: Request, who: WebUser, *, status: int = 200, error: str | None = None, form: dict[str, str] | None = None
) -> Response:
    state = get_state(request)
    now = state.now()
    end = now + timedelta(days=DAYS)
    cards: list[dict[str, Any]] = []
    with state.read_sessions() as s:
        people = oncall.People(s)
        for name, spec in state.policy.schedules.items():
            tz = ZoneInfo(spec.timezone)
            answer = oncall.who(s, state.policy, schedule=name, at=now, people=people)
            shifts = oncall.timeline(s, state.policy, schedule=name, start=now, end=end)
            title = f"{spec.name or name}: the next {DAYS} days ({spec.timezone})"
            cards.append(
                {
                    "key": name,
                    "spec": spec,
                    "now": answer,
                    "local": lambda t, tz=tz: t.astimezone(tz).strftime("%a %d %b %H:%M %Z") if t else "",
                    "rows": views.rows(shifts, tz),
                    "gaps": [r for r in views.rows(shifts, tz) if r.person is None and r.via == "gap"],
                    "unknown": [r for r in views.rows(shifts, tz) if r.via == "unknown"],
                    "strip": Markup(views.strip(shifts, start=now, end=end, tz=tz, title=title)),
                }
            )
        overrides = [oncall.override_view(r, h) for r, h in oncall.list_overrides(s, ending_after=now)]
        handles = sorted(people.by_handle)
    blank = {
        "schedule": next(iter(state.policy.schedules), ""),
        "user": "",
        "start": "",
        "end": "",
        "timezone": "",
        "note": "",
    }
    return page(
        request,
        "oncall.html",
        status=status,
        who=who,
        cards=cards,
        overrides=overrides,
        handles=handles,
        error=error,
        form=form or blank,
        days=DAYS,
    )


@router.get("/oncall")
def oncall_page(request: Request, who: PageUser) -> Response:
    return _render(request, who)


def _parse(value: str, field: str) -> datetime:
    try:
        return datetime.fromisoformat(value.strip())
    except ValueError:
        raise Invalid(f"{field}: expected a date and time like 2026-12-24T18:00", {"field": field}) from None


@router.post("/oncall/overrides")
def add_override(request: Request, who: Editor, form: Form) -> Response:
    state = get_state(request)
    values = {k: str(form.get(k) or "").strip()[:500] for k in FIELDS}
    try:
        start, end = _parse(values["start"], "start"), _parse(values["end"], "end")
        with web_uow(request, who) as s:
            row = oncall.add_override(
                s,
                state.policy,
                now=state.now(),
                actor=who.handle,
                schedule=values["schedule"],
                user=values["user"],
                start=start,
                end=end,
                timezone=values["timezone"] or None,
                note=values["note"],
            )
            done = f"Override #{row.id} saved: {values['user']} covers {values['schedule']}."
    except WarroomError as exc:
        return _render(request, who, status=_status(exc), error=exc.message, form=values)
    return redirect("/oncall", flash=("ok", done))


@router.post("/oncall/overrides/{override_id}/remove")
def remove_override(request: Request, override_id: int, who: Editor, form: Form) -> Response:
    if not 0 < override_id < 2**31:
        return _render(request, who, status=404, error=f"no override #{override_id}")
    try:
        with web_uow(request, who) as s:
            oncall.remove_override(s, override_id=override_id)
    except WarroomError as exc:
        return _render(request, who, status=_status(exc), error=exc.message)
    return redirect("/oncall", flash=("ok", f"Override #{override_id} removed."))
