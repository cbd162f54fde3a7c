"""Read-mostly pages: dashboard, lists, the policy in force, and the vendored static files."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import Annotated, Any
from urllib.parse import urlencode

import yaml
from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import Response

from warroom.api.deps import get_state
from warroom.db import unit_of_work
from warroom.errors import WarroomError
from warroom.incidents import queries as incident_queries
from warroom.incidents import service as incidents
from warroom.incidents.states import STATES
from warroom.ingest import queries as alert_queries
from warroom.notifications import retry as dead_letters
from warroom.policy.schema import PRIORITIES
from warroom.web.auth import Editor, PageUser
from warroom.web.render import page, redirect, security_headers

router = APIRouter()
STATIC = {"htmx.min.js": "text/javascript", "app.js": "text/javascript", "app.css": "text/css"}
PER_PAGE = 50


@router.get("/static/{name}")
def static(name: str) -> Response:
    if name not in STATIC:
        raise HTTPException(404, "no such file")
    body = resources.files("warroom.web").joinpath("static", name).read_bytes()
    return Response(
        body,
        media_type=STATIC[name],
        headers={"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"},
    )


def _dashboard_ctx(request: Request) -> dict[str, Any]:
    state = get_state(request)
    with state.read_sessions() as s:
        open_rows = incident_queries.open_incidents(s)
        firing = alert_queries.firing_unlinked(s)
    return {"incidents": open_rows, "firing": firing}


@router.get("/")
def dashboard(request: Request, who: PageUser) -> Response:
    return page(request, "dashboard.html", who=who, **_dashboard_ctx(request))


@router.get("/dashboard/panel")
def dashboard_panel(request: Request, who: PageUser) -> Response:
    """The part htmx polls and swaps in place."""
    return page(request, "_dashboard.html", who=who, **_dashboard_ctx(request))


def _day(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise HTTPException(422, "dates look like 2026-10-05") from None


@router.get("/incidents")
def incident_list(
    request: Request,
    who: PageUser,
    state: Annotated[str | None, Query(pattern=r"^(|open|active|stable|resolved|completed)$")] = None,
    priority: Annotated[str | None, Query(pattern=r"^(|P[1-4])$")] = None,
    service: Annotated[str | None, Query(max_length=64)] = None,
    date_from: Annotated[str | None, Query(alias="from", max_length=10)] = None,
    date_to: Annotated[str | None, Query(alias="to", max_length=10)] = None,
    page_no: Annotated[int, Query(alias="page", ge=1, le=100_000)] = 1,
) -> Response:
    start, end = _day(date_from), _day(date_to)
    app = get_state(request)
    with app.read_sessions() as s:
        rows, total = incident_queries.list_incidents(
            s,
            state="active,stable" if state == "open" else (state or None),
            priority=priority or None,
            service=service or None,
            declared_from=start,
            declared_to=end + timedelta(days=1) if end else None,
            page=page_no,
            per_page=PER_PAGE,
        )
    filters = {
        "state": state or "",
        "priority": priority or "",
        "service": service or "",
        "from": date_from or "",
        "to": date_to or "",
    }
    kept = {k: v for k, v in filters.items() if v}
    pages = max(1, -(-total // PER_PAGE))
    return page(
        request,
        "incidents.html",
        who=who,
        rows=rows,
        total=total,
        page_no=page_no,
        pages=pages,
        filters=filters,
        states=STATES,
        priorities=PRIORITIES,
        prev_url=f"/incidents?{urlencode({**kept, 'page': page_no - 1})}" if page_no > 1 else None,
        next_url=f"/incidents?{urlencode({**kept, 'page': page_no + 1})}" if page_no < pages else None,
    )


@router.get("/alerts")
def alert_list(
    request: Request,
    who: PageUser,
    status: Annotated[str | None, Query(pattern=r"^(|firing|resolved)$")] = None,
    incident: Annotated[str | None, Query(pattern=r"^(|(INC-|inc-)?[0-9]{1,9})$")] = None,
    page_no: Annotated[int, Query(alias="page", ge=1, le=100_000)] = 1,
) -> Response:
    """Every alert, newest first; `?incident=INC-n` is the room's "all alerts of this incident" link."""
    incident_id = incidents.parse_ref(incident) if incident else None
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


@router.get("/notifications/dead")
def dead_list(
    request: Request, who: PageUser, page_no: Annotated[int, Query(alias="page", ge=1, le=100_000)] = 1
) -> Response:
    with get_state(request).read_sessions() as s:
        rows, total = dead_letters.dead(s, page=page_no, per_page=PER_PAGE)
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
        with unit_of_work(state.sessions) as s:
            dead_letters.retry(s, now=state.now(), notification_id=notification_id)
    except WarroomError as exc:
        return redirect("/notifications/dead", flash=("error", exc.message))
    return redirect("/notifications/dead", flash=("ok", f"Notification {notification_id} queued again."))


@router.get("/policy")
def policy_page(request: Request, who: PageUser) -> Response:
    policy = get_state(request).policy
    text = yaml.safe_dump(policy.public_dict(), sort_keys=False, allow_unicode=True, width=100)
    return security_headers(page(request, "policy.html", who=who, policy_yaml=text))
