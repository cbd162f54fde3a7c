"""The dashboard, the incident list, declare, the incident room and its forms; each post is one audited unit of work."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import PlainTextResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from warroom.alerts import queries as alert_queries
from warroom.api.deps import get_state
from warroom.core.errors import Invalid, NotFound, WarroomError
from warroom.incidents import command, drafts, linking, postmortems, states
from warroom.incidents import queries as incident_queries
from warroom.incidents import service as incidents
from warroom.incidents.schemas import IncidentCreate, IncidentPatch
from warroom.incidents.states import STATES
from warroom.notifications import service as outbox
from warroom.policy.schema import PRIORITIES
from warroom.triage.helper import priority_helper, window_words
from warroom.triage.rules import Decision
from warroom.web.auth import Editor, Form, PageUser, WebUser, web_uow
from warroom.web.render import PER_PAGE, page, redirect

router = APIRouter()


@dataclass(frozen=True)
class RoomPanelView:
    """A room panel (core.hooks.RoomPanel) with its context read for this incident."""

    template: str
    context: Mapping[str, object]


OVERVIEW = ("users_impacted", "impacts", "detection_method", "controller", "tracking_issue", "sub_services")
ROOM_ALERTS = 50  # alerts listed in the room (firing first); the rest are one link away on /alerts
LABELS = {"active": "Mark active (reopen)", "stable": "Mark stable", "resolved": "Resolve", "completed": "Complete"}


def _problem(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "form"
        return f"{field}: {first['msg']}"
    assert isinstance(exc, WarroomError)
    missing = exc.details.get("missing") if isinstance(exc.details, dict) else None
    return f"{exc.message}: {'; '.join(missing)}" if missing else exc.message


def _act(request: Request, who: WebUser, back: str, work: Callable[[Session], str]) -> Response:
    """One audited unit of work per post; a refusal rolls back and comes back as a message on the page."""
    try:
        with web_uow(request, who) as s:
            message = work(s)
    except (WarroomError, ValidationError) as exc:
        return redirect(back, flash=("error", _problem(exc)))
    return redirect(back, flash=("ok", message))


def _text(form: FormData, name: str, limit: int = 20000) -> str:
    return str(form.get(name) or "").strip()[:limit]


def _int(form: FormData, name: str) -> int | None:
    raw = _text(form, name, 20)
    if not raw:
        return None
    try:
        return int(raw.replace(",", "").replace("_", ""))
    except ValueError:
        raise Invalid(f"{name.replace('_', ' ')} must be a whole number", {"field": name}) from None


def _helper(request: Request, tier: str | None, users: str | None, unknown: bool) -> Decision | None:
    policy = get_state(request).policy
    try:
        tier_no = int(tier) if tier else None
        users_no = int(users.replace(",", "")) if users and users.strip() else None
    except ValueError:
        return None
    if tier_no is None:
        return None
    return priority_helper(policy, tier=tier_no, users_per_hour=users_no, unknown=unknown)


def _dashboard_ctx(request: Request) -> dict[str, Any]:
    state = get_state(request)
    with state.read_sessions() as s:
        open_rows = incident_queries.open_incidents(s)
        firing = alert_queries.firing_unlinked(s)
        failing = outbox.failing_channels(s)
    return {"incidents": open_rows, "firing": firing, "failing_channels": failing}


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


@router.get("/incidents/new")
def declare_form(
    request: Request, who: PageUser, alert: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None
) -> Response:
    """The declare form; `?alert=ID` (the dashboard's Declare on an alert) fills it from that alert,
    which the new incident then gets attached."""
    state = get_state(request)
    policy = state.policy
    with state.read_sessions() as s:
        commanders = [u.handle for u in command.eligible(s, policy=policy)]
        from_alert = alert_queries.get_alert(s, alert) if alert is not None else None
    return page(
        request,
        "declare.html",
        who=who,
        commanders=commanders,
        priorities=PRIORITIES,
        tiers=sorted(policy.priority.tiers),
        window=window_words(policy.unknown_impact.escalation_window),
        decision=None,
        chosen=from_alert.priority if from_alert else "P3",
        from_alert=from_alert,
    )


@router.get("/incidents/priority-helper")
def priority_fragment(
    request: Request,
    who: PageUser,
    tier: str | None = None,
    users_per_hour: Annotated[str | None, Query(max_length=20)] = None,
    unknown: str | None = None,
    priority: str | None = None,
) -> Response:
    """htmx: the priority the matrix gives, with its rule; swaps the priority select out of band."""
    decision = _helper(request, tier, users_per_hour, bool(unknown))
    chosen = decision.value if decision else (priority if priority in PRIORITIES else "P3")
    return page(request, "_priority.html", who=who, decision=decision, priorities=PRIORITIES, chosen=chosen, oob=True)


@router.post("/incidents/new")
def declare(request: Request, who: Editor, form: Form) -> Response:
    state = get_state(request)
    decision = _helper(request, _text(form, "tier", 4), _text(form, "users_per_hour", 20), bool(form.get("unknown")))
    created: dict[str, Any] = {}

    def work(s: Session) -> str:
        data = IncidentCreate(
            title=_text(form, "title", 500) or None,
            services=[str(v) for v in form.getlist("services")],
            priority=_text(form, "priority", 4),
            severity=_text(form, "severity", 8),  # type: ignore[arg-type]
            commander=_text(form, "commander", 64) or who.handle,
            alerts=[int(str(v)) for v in form.getlist("alerts") if str(v).isdigit()][:500] or None,
        )
        reason = None
        if decision and decision.value == data.priority:
            reason = f"priority {decision.value} by rule {decision.rule} ({decision.reason})"
        incident = incidents.declare(
            s, policy=state.policy, now=state.now(), actor=who.handle, data=data, reason=reason
        )
        created["ref"] = incident.ref
        return f"{incident.ref} declared."

    response = _act(request, who, "/incidents/new", work)
    if "ref" in created:
        response.headers["Location"] = f"/incidents/{created['ref']}"
    return response


@router.get("/incidents/{ref}")
def incident_page(request: Request, ref: str, who: PageUser) -> Response:
    state = get_state(request)
    with state.read_sessions() as s:
        try:
            incident = incidents.get(s, ref)
        except NotFound as exc:
            return page(request, "not_found.html", status=404, who=who, message=exc.message)
        ctx: dict[str, Any] = {
            "inc": incident,
            "timeline": incident_queries.room_timeline(s, incident_id=incident.id),
            "updates": incident_queries.updates(s, incident_id=incident.id),
            "alerts": alert_queries.for_incident(s, incident_id=incident.id, limit=ROOM_ALERTS),
            "postmortem": postmortems.current(s, incident_id=incident.id),
            "missing": (
                incidents.completion_missing(s, policy=state.policy, incident=incident)
                if incident.state == "resolved"
                else []
            ),
            "draft": (
                drafts.build(s, incident=incident, now=state.now())["text"] if incident.state != "completed" else ""
            ),
            "panels": [RoomPanelView(p.template, p.context(s, incident.id)) for p in state.hooks.room_panels],
            "failing_channels": outbox.failing_channels(s),
            # --- command (incidents.command): who may take over, and why the commander cannot command
            "commanders": [u.handle for u in command.eligible(s, policy=state.policy)],
            "commander_problem": (
                command.problem(s, policy=state.policy, handle=incident.commander)
                if incident.state != "completed"
                else None
            ),
        }
    moves = states.allowed(incident.state)
    return page(
        request,
        "incident.html",
        who=who,
        moves=[(m, LABELS[m]) for m in moves],
        priorities=PRIORITIES,
        overview=OVERVIEW,
        **ctx,
    )


@router.post("/incidents/{ref}/edit")
def edit(request: Request, ref: str, who: Editor, form: Form) -> Response:
    state = get_state(request)
    back = f"/incidents/{ref}"

    def work(s: Session) -> str:
        incident = incidents.get(s, ref, for_update=True)
        roles = {r: _text(form, f"role_{r}", 64) for r in state.policy.roles if r != "commander"}
        given: dict[str, Any] = {
            "title": _text(form, "title", 500) or incident.title,
            "priority": _text(form, "priority", 4) or incident.priority,
            "severity": _text(form, "severity", 8) or incident.severity,
            "commander": _text(form, "commander", 64) or incident.commander,
            "roles": {k: v for k, v in roles.items() if v},
            "services": [str(v) for v in form.getlist("services")] or incident.services,
            "users_impacted": _int(form, "users_impacted"),
        }
        for name in OVERVIEW[1:]:
            given[name] = _text(form, name) or None
        incidents.patch(
            s, policy=state.policy, now=state.now(), actor=who.handle, incident=incident, data=IncidentPatch(**given)
        )
        return "Saved."

    return _act(request, who, back, work)


@router.post("/incidents/{ref}/notes")
def add_note(request: Request, ref: str, who: Editor, form: Form) -> Response:
    state = get_state(request)

    def work(s: Session) -> str:
        text = _text(form, "text")
        if not text:
            raise Invalid("a note needs some text", {"field": "text"})
        when = _text(form, "occurred_at", 40)
        occurred = None
        if when:
            try:
                occurred = datetime.fromisoformat(when).replace(tzinfo=UTC)
            except ValueError:
                raise Invalid("the time looks like 2026-10-05T09:30 (UTC)", {"field": "occurred_at"}) from None
        incident = incidents.get(s, ref, for_update=True)
        incidents.add_note(s, now=state.now(), actor=who.handle, incident=incident, text=text, occurred_at=occurred)
        return "Note added."

    return _act(request, who, f"/incidents/{ref}#timeline", work)


@router.post("/incidents/{ref}/updates")
def post_update(request: Request, ref: str, who: Editor, form: Form) -> Response:
    state = get_state(request)

    def work(s: Session) -> str:
        message = _text(form, "message")
        if not message:
            raise Invalid("a status update needs a message", {"field": "message"})
        incident = incidents.get(s, ref, for_update=True)
        incidents.post_update(
            s, policy=state.policy, now=state.now(), actor=who.handle, incident=incident, message=message
        )
        return "Status update posted."

    return _act(request, who, f"/incidents/{ref}", work)


@router.post("/incidents/{ref}/transition")
def transition(request: Request, ref: str, who: Editor, form: Form) -> Response:
    state = get_state(request)

    def work(s: Session) -> str:
        to = _text(form, "to", 16)
        incident = incidents.get(s, ref, for_update=True)
        incidents.transition(
            s,
            policy=state.policy,
            now=state.now(),
            actor=who.handle,
            incident=incident,
            to=to,
            reason=_text(form, "reason", 2000) or None,
            hooks=state.hooks,
        )
        return f"{incident.ref} is now {to}."

    return _act(request, who, f"/incidents/{ref}", work)


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
        markdown = str(form.get("markdown") or "").replace("\r\n", "\n")
        if not markdown.strip():
            raise Invalid("the postmortem cannot be empty", {"field": "markdown"})
        base = _int(form, "base_version")
        incident = incidents.get(s, ref, for_update=True)
        row = postmortems.save_edit(
            s, now=state.now(), actor=who.handle, incident=incident, markdown=markdown, base_version=base
        )
        return f"Postmortem saved as version {row.version}."

    return _act(request, who, f"/incidents/{ref}/postmortem", work)


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

    return _act(request, who, f"/incidents/{ref}/postmortem", work)


# --- Command: handing over is its own action (incidents.command), kept apart from the edit form.
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
            to=_text(form, "to", 64),
            reason=_text(form, "reason", 2000) or None,
        )
        return f"{incident.commander} now commands {incident.ref}."

    return _act(request, who, f"/incidents/{ref}#command", work)


# --- Alerts of an incident: attach (or move here) and detach, each an audited unit of work.
@router.post("/incidents/{ref}/alerts")
def attach_alerts(request: Request, ref: str, who: Editor, form: Form) -> Response:
    state = get_state(request)

    def work(s: Session) -> str:
        raw = _text(form, "alert_ids", 5000).replace(",", " ").split()
        if not raw or not all(v.isdigit() and len(v) < 10 for v in raw):
            raise Invalid("alert ids are numbers, e.g. 12 13", {"field": "alert_ids"})
        incident = incidents.get(s, ref, for_update=True)
        done = linking.attach(s, now=state.now(), actor=who.handle, incident=incident, alert_ids=[int(v) for v in raw])
        return f"{len(done)} alert(s) attached to {incident.ref}."

    return _act(request, who, f"/incidents/{ref}#alerts-h", work)


@router.post("/incidents/{ref}/alerts/{alert_id}/detach")
def detach_alert(request: Request, ref: str, alert_id: int, who: Editor) -> Response:
    state = get_state(request)

    def work(s: Session) -> str:
        incident = incidents.get(s, ref, for_update=True)
        linking.detach(s, now=state.now(), actor=who.handle, incident=incident, alert_id=alert_id)
        return f"Alert {alert_id} detached from {incident.ref}."

    return _act(request, who, f"/incidents/{ref}#alerts-h", work)
