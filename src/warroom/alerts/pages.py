"""/alerts in the browser: every alert, newest first, filtered by status or incident."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from warroom.alerts import queries as alert_queries
from warroom.api.deps import get_state
from warroom.core.refs import number as incident_number
from warroom.web.auth import PageUser
from warroom.web.render import PER_PAGE, page

router = APIRouter()


@router.get("/alerts")
def alert_list(
    request: Request,
    who: PageUser,
    status: Annotated[str | None, Query(pattern=r"^(|firing|resolved)$")] = None,
    incident: Annotated[str | None, Query(pattern=r"^(|(INC-|inc-)?[0-9]{1,9})$")] = None,
    page_no: Annotated[int, Query(alias="page", ge=1, le=100_000)] = 1,
) -> Response:
    """Every alert, newest first; `?incident=INC-n` is the room's "all alerts of this incident" link."""
    incident_id = incident_number(incident) if incident else None
    with get_state(request).read_sessions() as s:
        rows, total = alert_queries.list_alerts(
            s, status=status or None, incident_id=incident_id, page=page_no, per_page=PER_PAGE
        )
    pages = max(1, -(-total // PER_PAGE))
    ref = f"INC-{incident_id}" if incident_id is not None else ""
    kept = {k: v for k, v in (("status", status), ("incident", ref)) if v}
    return page(
        request,
        "alerts.html",
        who=who,
        rows=rows,
        total=total,
        alert_status=status or "",
        alert_incident=ref,
        page_no=page_no,
        pages=pages,
        prev_url=f"/alerts?{urlencode({**kept, 'page': page_no - 1})}" if page_no > 1 else None,
        next_url=f"/alerts?{urlencode({**kept, 'page': page_no + 1})}" if page_no < pages else None,
    )
