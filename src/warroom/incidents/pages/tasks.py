"""The incident room's pending tasks: add one, tick it done (or not), remove it; each an audited edit."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, HttpUrl
from sqlalchemy.orm import Session

from warroom.api.deps import get_state
from warroom.incidents import editing
from warroom.incidents import service as incidents
from warroom.incidents import tasks as pending
from warroom.incidents.forms import values
from warroom.web.actions import act
from warroom.web.auth import Editor, Form

router = APIRouter()
Blank = BeforeValidator(lambda v: (v.strip() or None) if isinstance(v, str) else v)


class TaskForm(BaseModel):
    model_config = ConfigDict(extra="ignore")

    title: Annotated[str, Blank] = Field(min_length=1, max_length=500)
    url: Annotated[HttpUrl | None, Blank] = None


class TaskMove(BaseModel):
    model_config = ConfigDict(extra="ignore")

    action: Annotated[str, Field(pattern=r"^(done|undone|remove)$")]


def _back(ref: str) -> str:
    return f"/incidents/{ref}#tasks"


@router.post("/incidents/{ref}/tasks")
def add_task(request: Request, ref: str, who: Editor, form: Form) -> Response:
    state = get_state(request)

    def work(s: Session) -> str:
        task = TaskForm.model_validate(values(form))
        incident = incidents.get(s, ref, for_update=True)
        patch = pending.added(incident, title=task.title, url=str(task.url) if task.url else None)
        editing.patch(s, policy=state.policy, now=state.now(), actor=who.handle, incident=incident, data=patch)
        return f"Task added: {task.title}"

    return act(request, who, _back(ref), work)


@router.post("/incidents/{ref}/tasks/{number}")
def change_task(request: Request, ref: str, number: int, who: Editor, form: Form) -> Response:
    state = get_state(request)

    def work(s: Session) -> str:
        action = TaskMove.model_validate(values(form)).action
        incident = incidents.get(s, ref, for_update=True)
        if action == "remove":
            patch = pending.removed(incident, number=number)
        else:
            patch = pending.ticked(incident, number=number, done=action == "done")
        editing.patch(s, policy=state.policy, now=state.now(), actor=who.handle, incident=incident, data=patch)
        return f"Task {number} {'removed' if action == 'remove' else 'marked ' + action.replace('un', 'not ')}."

    return act(request, who, _back(ref), work)
