"""Out-of-band deploy requests in the browser: open one from the incident, its page, its moves."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from warroom.api.deps import get_state
from warroom.core.errors import Forbidden, Invalid, NotFound, WarroomError
from warroom.deploys import forms as oob_forms
from warroom.deploys import service as oob
from warroom.deploys import states
from warroom.deploys.models import OobRequest
from warroom.deploys.schemas import OobTransitionIn, PostmortemDoneIn
from warroom.incidents import service as incidents
from warroom.incidents.models import Incident
from warroom.web.auth import Editor, Form, PageUser, WebUser, web_uow
from warroom.web.render import page, redirect

router = APIRouter()
NAMES = {**oob_forms.LABELS, **states.CHECKLIST}


def _status(exc: Exception) -> int:
    """422 for a bad or incomplete form, 404 for an unknown id, 403 for a duty that is someone
    else's, 409 for a state that refuses."""
    if isinstance(exc, ValidationError | Invalid):
        return 422
    if isinstance(exc, Forbidden):
        return 403
    return 404 if isinstance(exc, NotFound) else 409


def _refusal(exc: Exception) -> dict[str, Any]:
    """The message and, for an incomplete form, the missing fields by label."""
    if isinstance(exc, ValidationError):
        field, message = oob_forms.problem(exc)
        return {"error": message, "missing": [], "bad_field": field}
    assert isinstance(exc, WarroomError)
    details = exc.details if isinstance(exc.details, dict) else {}
    missing = [str(m) for m in details.get("missing") or []]
    if missing and exc.message.startswith("the OOB form is incomplete"):
        return {
            "error": "The request cannot be sent to the platform team yet: the form is incomplete. Fill in:",
            "missing": missing,
            "bad_field": missing[0],
        }
    if missing:
        return {"error": exc.message.split(":")[0] + ". Still to do:", "missing": missing, "bad_field": ""}
    return {"error": exc.message, "missing": [], "bad_field": str(details.get("field") or "")}


def _oob_page(
    request: Request,
    who: WebUser,
    ref: str,
    oob_id: str,
    *,
    status: int = 200,
    values: dict[str, Any] | None = None,
    refusal: dict[str, Any] | None = None,
) -> Response:
    with get_state(request).read_sessions() as s:
        try:
            incident = incidents.get(s, ref)
            row = oob.get(s, incident=incident, ref=oob_id)
        except NotFound as exc:
            return page(request, "not_found.html", status=404, who=who, message=exc.message)
        view = oob.view(row)
    moves = [(to, oob_forms.MOVE_LABELS[to]) for to in states.allowed(row.state)]
    return page(
        request,
        "oob.html",
        status=status,
        who=who,
        inc=incident,
        oob=view,
        moves=moves,
        form=values or oob_forms.saved(row),
        names=NAMES,
        severities=states.PLATFORM_SEVERITIES,
        keeps_checklist=row.state in states.CHECKLIST_STATES,
        editable_form=row.state in states.EDITABLE_STATES,
        **(refusal or _no_refusal()),
    )


def _no_refusal() -> dict[str, Any]:
    return {"error": None, "missing": [], "bad_field": ""}


def _locked(s: Session, ref: str, oob_id: str) -> tuple[Incident, OobRequest]:
    incident = incidents.get(s, ref, for_update=True)
    return incident, oob.get(s, incident=incident, ref=oob_id, for_update=True)


@router.post("/incidents/{ref}/oob")
def create(request: Request, ref: str, who: Editor, form: Form) -> Response:
    """Save a draft; with action=request also send it, and show what is missing when incomplete."""
    state = get_state(request)
    values = oob_forms.typed(form)
    refused: Invalid | None = None
    try:
        parsed = oob_forms.parse(values)
        with web_uow(request, who) as s:
            incident = incidents.get(s, ref, for_update=True)
            row = oob.create(s, policy=state.policy, now=state.now(), actor=who.handle, incident=incident, form=parsed)
            number = row.id
            if form.get("action") == "request":
                try:
                    oob.transition(
                        s,
                        policy=state.policy,
                        now=state.now(),
                        actor=who.handle,
                        incident=incident,
                        row=row,
                        to="requested",
                    )
                except Invalid as exc:  # checked before anything changed: the draft is kept
                    refused = exc
    except NotFound as exc:
        return page(request, "not_found.html", status=404, who=who, message=exc.message)
    except (WarroomError, ValidationError) as exc:
        with state.read_sessions() as s:
            incident = incidents.get(s, ref)
        return page(
            request,
            "oob_new.html",
            status=_status(exc),
            who=who,
            inc=incident,
            form=values,
            names=NAMES,
            severities=states.PLATFORM_SEVERITIES,
            **_refusal(exc),
        )
    if refused is not None:
        return _oob_page(request, who, ref, str(number), status=422, refusal=_refusal(refused))
    sent = form.get("action") == "request"
    return redirect(
        f"/incidents/{ref}/oob/OOB-{number}",
        flash=("ok", f"OOB-{number} {'sent to the platform team' if sent else 'saved as a draft'}."),
    )


@router.get("/incidents/{ref}/oob/{oob_id}")
def oob_page(request: Request, ref: str, oob_id: str, who: PageUser) -> Response:
    return _oob_page(request, who, ref, oob_id)


@router.post("/incidents/{ref}/oob/{oob_id}/edit")
def edit(request: Request, ref: str, oob_id: str, who: Editor, form: Form) -> Response:
    """Save the draft's form (kept even when sending it is refused for what is missing)."""
    state = get_state(request)
    values = oob_forms.typed(form)
    refused: Exception | None = None
    try:
        parsed = oob_forms.parse(values)
        with web_uow(request, who) as s:
            incident, row = _locked(s, ref, oob_id)
            oob.edit(s, now=state.now(), actor=who.handle, incident=incident, row=row, form=parsed)
            if form.get("action") == "request":
                try:
                    oob.transition(
                        s,
                        policy=state.policy,
                        now=state.now(),
                        actor=who.handle,
                        incident=incident,
                        row=row,
                        to="requested",
                    )
                except Invalid as exc:
                    refused = exc
    except (WarroomError, ValidationError) as exc:
        return _oob_page(request, who, ref, oob_id, status=_status(exc), values=values, refusal=_refusal(exc))
    if refused is not None:
        return _oob_page(request, who, ref, oob_id, status=422, values=values, refusal=_refusal(refused))
    sent = form.get("action") == "request"
    return redirect(
        f"/incidents/{ref}/oob/{oob_id}", flash=("ok", "Sent to the platform team." if sent else "Draft saved.")
    )


@router.post("/incidents/{ref}/oob/{oob_id}/transition")
def transition(request: Request, ref: str, oob_id: str, who: Editor, form: Form) -> Response:
    state = get_state(request)
    try:
        move = OobTransitionIn.model_validate(
            {"to": str(form.get("to") or "")[:16], "reason": str(form.get("reason") or "").strip()[:5000] or None}
        )
        with web_uow(request, who) as s:
            incident, row = _locked(s, ref, oob_id)
            oob.transition(
                s,
                policy=state.policy,
                now=state.now(),
                actor=who.handle,
                incident=incident,
                row=row,
                to=move.to,
                reason=move.reason,
            )
            done = f"{row.ref} is now {row.state}."
    except (WarroomError, ValidationError) as exc:
        return _oob_page(request, who, ref, oob_id, status=_status(exc), refusal=_refusal(exc))
    return redirect(f"/incidents/{ref}/oob/{oob_id}", flash=("ok", done))


@router.post("/incidents/{ref}/oob/{oob_id}/checklist")
def checklist(request: Request, ref: str, oob_id: str, who: Editor, form: Form) -> Response:
    """The boxes as sent: newly ticked items record who and when, unticked ones are withdrawn."""
    state = get_state(request)
    wanted = {str(v) for v in form.getlist("done")}
    changed: list[str] = []
    try:
        unknown = sorted(wanted - set(states.CHECKLIST))
        if unknown:
            raise Invalid(f"unknown checklist item '{unknown[0]}'", {"field": "done"})
        with web_uow(request, who) as s:
            incident, row = _locked(s, ref, oob_id)
            current = {k for k, v in (row.checklist or {}).items() if (v or {}).get("done")}
            for item in states.CHECKLIST:
                if (item in wanted) != (item in current):
                    note = str(form.get(f"note_{item}") or "").strip()[:2000] or None
                    oob.tick(
                        s,
                        policy=state.policy,
                        now=state.now(),
                        actor=who.handle,
                        incident=incident,
                        row=row,
                        item=item,
                        done=item in wanted,
                        note=note,
                    )
                    changed.append(states.CHECKLIST[item])
    except WarroomError as exc:
        return _oob_page(request, who, ref, oob_id, status=_status(exc), refusal=_refusal(exc))
    message = f"Checklist saved: {', '.join(changed)}." if changed else "Checklist unchanged."
    return redirect(f"/incidents/{ref}/oob/{oob_id}#checklist", flash=("ok", message))


@router.post("/incidents/{ref}/oob/{oob_id}/postmortem")
def postmortem_done(request: Request, ref: str, oob_id: str, who: Editor, form: Form) -> Response:
    """The requester's OOB postmortem is written; the reminder is withdrawn."""
    state = get_state(request)
    try:
        done = PostmortemDoneIn.model_validate({"url": str(form.get("url") or "").strip()[:2000] or None})
        with web_uow(request, who) as s:
            incident, row = _locked(s, ref, oob_id)
            url = str(done.url) if done.url else None
            oob.postmortem_done(s, now=state.now(), actor=who.handle, incident=incident, row=row, url=url)
    except (WarroomError, ValidationError) as exc:
        return _oob_page(request, who, ref, oob_id, status=_status(exc), refusal=_refusal(exc))
    return redirect(f"/incidents/{ref}/oob/{oob_id}", flash=("ok", "OOB postmortem marked done."))
