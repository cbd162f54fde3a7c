"""Dead notifications in the browser: the list, and sending one again."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from warroom.api.deps import get_state
from warroom.core.errors import WarroomError
from warroom.notifications import service as outbox
from warroom.web.auth import Editor, PageUser, web_uow
from warroom.web.render import PER_PAGE, page, redirect

router = APIRouter()


@router.get("/notifications/dead")
def dead_list(
    request: Request, who: PageUser, page_no: Annotated[int, Query(alias="page", ge=1, le=100_000)] = 1
) -> Response:
    with get_state(request).read_sessions() as s:
        rows, total = outbox.list_notifications(s, state="dead", limit=PER_PAGE, offset=(page_no - 1) * PER_PAGE)
    pages = max(1, -(-total // PER_PAGE))
    return page(
        request,
        "dead.html",
        who=who,
        rows=rows,
        total=total,
        page_no=page_no,
        pages=pages,
        prev_url=f"/notifications/dead?page={page_no - 1}" if page_no > 1 else None,
        next_url=f"/notifications/dead?page={page_no + 1}" if page_no < pages else None,
    )


@router.post("/notifications/{notification_id}/retry")
def retry(request: Request, notification_id: int, who: Editor) -> Response:
    state = get_state(request)
    try:
        with web_uow(request, who) as s:
            outbox.retry(s, notification_id=notification_id, now=state.now())
    except WarroomError as exc:
        return redirect("/notifications/dead", flash=("error", exc.message))
    return redirect("/notifications/dead", flash=("ok", f"Notification {notification_id} queued again."))
