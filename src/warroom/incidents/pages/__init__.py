"""The dashboard, the incident list, declare, the incident room and its forms; each post is one audited unit of
work. The postmortem page and the room's pending tasks are modules of this package, served with it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from warroom.alerts import queries as alert_queries
from warroom.api.deps import get_state
from warroom.core.errors import NotFound
from warroom.incidents import command, drafts, editing, escalation, postmortems, states, updates, versions
from warroom.incidents import queries as incident_queries
from warroom.incidents import service as incidents
from warroom.incidents.forms import DeclareForm, EditForm, NoteForm, TransitionForm, UpdateForm, values
from warroom.incidents.pages import handover, postmortem, tasks
from warroom.incidents.states import STATES
from warroom.notifications import service as outbox
from warroom.policy.schema import PRIORITIES
from warroom.triage.helper import priority_helper, window_words
from warroom.triage.rules import Decision
from warroom.web.actions import act, problem
from warroom.web.auth import Editor, Form, PageUser, WebUser
from warroom.web.render import PER_PAGE, page

router = APIRouter()
VIAS = {"slack": "Slack", "cli": "the CLI", "api": "the API"}  # the web, the room itself, goes unsaid


@dataclass(frozen=True)
class RoomPanelView:
    """A room panel (core.hooks.RoomPanel) with its context read for this incident."""

    template: str
    context: Mapping[str, object]


OVERVIEW = ("users_impacted", "impacts", "detection_method", "controller", "tracking_issue", "sub_services")
ROOM_ALERTS = 50  # alerts listed in the room (firing first); the rest are one link away on /alerts
LABELS = {"active": "Mark active (reopen)", "stable": "Mark stable", "resolved": "Resolve", "completed": "Complete"}


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
    decision = _helper(
        request, str(form.get("tier") or "")[:4], str(form.get("users_per_hour") or "")[:20], bool(form.get("unknown"))
    )
    created: dict[str, Any] = {}

    def work(s: Session) -> str:
        data = DeclareForm.parse(form).incident(default_commander=who.handle)
        reason = None
        if decision and decision.value == data.priority:
            reason = f"priority {decision.value} by rule {decision.rule} ({decision.reason})"
        incident = incidents.declare(
            s, policy=state.policy, now=state.now(), actor=who.handle, data=data, reason=reason
        )
        created["ref"] = incident.ref
        return f"{incident.ref} declared."

    response = act(request, who, "/incidents/new", work)
    if "ref" in created:
        response.headers["Location"] = f"/incidents/{created['ref']}"
    return response


@router.get("/incidents/{ref}")
def incident_page(request: Request, ref: str, who: PageUser) -> Response:
    return _room(request, ref, who)


def _room(
    request: Request, ref: str, who: WebUser, status: int = 200, flash: tuple[str, str] | None = None
) -> Response:
    """The incident room; a refused edit comes back here with its status and message."""
    state = get_state(request)
    with state.read_sessions() as s:
        try:
            incident = incidents.get(s, ref)
        except NotFound as exc:
            return page(request, "not_found.html", status=404, who=who, message=exc.message)
        ctx: dict[str, Any] = {
            "version": versions.of(incident),
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
            "pages": escalation.pages(s, incident.id),
            "panels": [
                RoomPanelView(p.template, p.context(s, incident.id, state.settings)) for p in state.hooks.room_panels
            ],
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
        status,
        flash=flash,
        who=who,
        moves=[(m, LABELS[m]) for m in moves],
        priorities=PRIORITIES,
        overview=OVERVIEW,
        vias=VIAS,
        **ctx,
    )


@router.post("/incidents/{ref}/edit")
def edit(request: Request, ref: str, who: Editor, form: Form) -> Response:
    """Saves only what the person changed; an edit of an older version is refused (409) naming what changed."""
    state = get_state(request)

    def work(s: Session) -> str:
        data = EditForm.parse(form, roles=state.policy.roles)
        incident = incidents.get(s, ref, for_update=True)
        versions.check(incident, data.version)
        changed = versions.differs(data.version, data.fields())
        if not changed:
            return "Nothing to save: no field was changed."
        patch = data.patch(changed)
        editing.patch(s, policy=state.policy, now=state.now(), actor=who.handle, incident=incident, data=patch)
        return "Saved."

    try:
        return act(request, who, f"/incidents/{ref}", work, passing=(versions.StaleEdit,))
    except versions.StaleEdit as exc:
        return _room(request, ref, who, 409, ("error", problem(exc)))


@router.post("/incidents/{ref}/notes")
def add_note(request: Request, ref: str, who: Editor, form: Form) -> Response:
    state = get_state(request)

    def work(s: Session) -> str:
        note = NoteForm.model_validate(values(form))
        incident = incidents.get(s, ref, for_update=True)
        updates.add_note(
            s, now=state.now(), actor=who.handle, incident=incident, text=note.text, occurred_at=note.occurred_at
        )
        return "Note added."

    return act(request, who, f"/incidents/{ref}#timeline", work)


@router.post("/incidents/{ref}/updates")
def post_update(request: Request, ref: str, who: Editor, form: Form) -> Response:
    state = get_state(request)

    def work(s: Session) -> str:
        message = UpdateForm.model_validate(values(form)).message
        incident = incidents.get(s, ref, for_update=True)
        updates.post_update(
            s, policy=state.policy, now=state.now(), actor=who.handle, incident=incident, message=message
        )
        return "Status update posted."

    return act(request, who, f"/incidents/{ref}", work)


@router.post("/incidents/{ref}/transition")
def transition(request: Request, ref: str, who: Editor, form: Form) -> Response:
    state = get_state(request)

    def work(s: Session) -> str:
        move = TransitionForm.model_validate(values(form))
        to = move.to
        incident = incidents.get(s, ref, for_update=True)
        incidents.transition(
            s,
            policy=state.policy,
            now=state.now(),
            actor=who.handle,
            incident=incident,
            to=to,
            reason=move.reason,
            hooks=state.hooks,
        )
        return f"{incident.ref} is now {to}."

    return act(request, who, f"/incidents/{ref}", work)


@router.post("/incidents/{ref}/acknowledge")
def acknowledge(request: Request, ref: str, who: Editor) -> Response:
    state = get_state(request)

    def work(s: Session) -> str:
        incident = incidents.get(s, ref, for_update=True)
        done = incidents.acknowledge(s, policy=state.policy, now=state.now(), actor=who.handle, incident=incident)
        return f"{incident.ref} acknowledged." if done else f"{incident.ref} was already acknowledged."

    return act(request, who, f"/incidents/{ref}", work)


# The postmortem page and the room's pending tasks: modules of their own, served with the room.
router.include_router(postmortem.router)
router.include_router(tasks.router)
router.include_router(handover.router)
