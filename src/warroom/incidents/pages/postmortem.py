"""The postmortem page: read, download, edit (refused when edited from an older version) and regenerate."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, Response
from sqlalchemy.orm import Session

from warroom.api.deps import get_state
from warroom.incidents import postmortems
from warroom.incidents import service as incidents
from warroom.incidents.forms import PostmortemForm, values
from warroom.web.actions import act
from warroom.web.auth import Editor, Form, PageUser
from warroom.web.render import page

router = APIRouter()


@router.get("/incidents/{ref}/postmortem")
def postmortem_page(request: Request, ref: str, who: PageUser) -> Response:
    with get_state(request).read_sessions() as s:
        incident = incidents.get(s, ref)
        current = postmortems.current(s, incident_id=incident.id)
        versions = postmortems.versions(s, incident_id=incident.id)
    return page(request, "postmortem.html", who=who, inc=incident, pm=current, versions=versions)


@router.get("/incidents/{ref}/postmortem.md")
def postmortem_download(request: Request, ref: str, who: PageUser) -> Response:
    with get_state(request).read_sessions() as s:
        incident = incidents.get(s, ref)
        row = postmortems.require_current(s, incident=incident)
    return PlainTextResponse(
        row.markdown,
        media_type="text/markdown; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{incident.ref}-postmortem.md"'},
    )


@router.post("/incidents/{ref}/postmortem")
def postmortem_save(request: Request, ref: str, who: Editor, form: Form) -> Response:
    state = get_state(request)

    def work(s: Session) -> str:
        edit = PostmortemForm.model_validate(values(form))
        incident = incidents.get(s, ref, for_update=True)
        row = postmortems.save_edit(
            s,
            now=state.now(),
            actor=who.handle,
            incident=incident,
            markdown=edit.markdown,
            base_version=edit.base_version,
        )
        return f"Postmortem saved as version {row.version}."

    return act(request, who, f"/incidents/{ref}/postmortem", work)


@router.post("/incidents/{ref}/postmortem/generate")
def postmortem_generate(request: Request, ref: str, who: Editor, form: Form) -> Response:
    state = get_state(request)

    def work(s: Session) -> str:
        incident = incidents.get(s, ref, for_update=True)
        row = postmortems.generate(
            s,
            policy=state.policy,
            now=state.now(),
            actor=who.handle,
            incident=incident,
            force=bool(form.get("force")),
            hooks=state.hooks,
        )
        return f"Postmortem generated (version {row.version if row else '?'})."

    return act(request, who, f"/incidents/{ref}/postmortem", work)
