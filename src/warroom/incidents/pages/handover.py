"""The room's command hand-over and its alerts (attach, move here, detach): each an audited unit of work."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from warroom.api.deps import get_state
from warroom.core.errors import Invalid
from warroom.incidents import command, linking
from warroom.incidents import service as incidents
from warroom.web.actions import act
from warroom.web.auth import Editor, Form

router = APIRouter()


@router.post("/incidents/{ref}/commander")
def hand_over(request: Request, ref: str, who: Editor, form: Form) -> Response:
    state = get_state(request)

    def work(s: Session) -> str:
        incident = incidents.get(s, ref, for_update=True)
        command.hand_over(
            s,
            policy=state.policy,
            now=state.now(),
            actor=who.handle,
            incident=incident,
            to=str(form.get("to") or "").strip()[:64],
            reason=str(form.get("reason") or "").strip()[:2000] or None,
        )
        return f"{incident.commander} now commands {incident.ref}."

    return act(request, who, f"/incidents/{ref}#command", work)


@router.post("/incidents/{ref}/alerts")
def attach_alerts(request: Request, ref: str, who: Editor, form: Form) -> Response:
    state = get_state(request)

    def work(s: Session) -> str:
        raw = str(form.get("alert_ids") or "")[:5000].replace(",", " ").split()
        if not raw or not all(v.isdigit() and len(v) < 10 for v in raw):
            raise Invalid("alert ids are numbers, e.g. 12 13", {"field": "alert_ids"})
        incident = incidents.get(s, ref, for_update=True)
        done = linking.attach(s, now=state.now(), actor=who.handle, incident=incident, alert_ids=[int(v) for v in raw])
        return f"{len(done)} alert(s) attached to {incident.ref}."

    return act(request, who, f"/incidents/{ref}#alerts-h", work)


@router.post("/incidents/{ref}/alerts/{alert_id}/detach")
def detach_alert(request: Request, ref: str, alert_id: int, who: Editor) -> Response:
    state = get_state(request)

    def work(s: Session) -> str:
        incident = incidents.get(s, ref, for_update=True)
        linking.detach(s, now=state.now(), actor=who.handle, incident=incident, alert_id=alert_id)
        return f"Alert {alert_id} detached from {incident.ref}."

    return act(request, who, f"/incidents/{ref}#alerts-h", work)
