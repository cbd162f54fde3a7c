"""OOB deploy use cases; keyword-only, take a session, never commit (the entry point does)."""

from __future__ import annotations

import logging
import re
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from warroom.core.errors import Conflict, Forbidden, Invalid, NotFound
from warroom.deploys import states
from warroom.deploys.models import OobRequest
from warroom.deploys.schemas import ChecklistEntryOut, OobForm, OobOut, form_dict
from warroom.incidents import service as incidents
from warroom.incidents.models import Incident
from warroom.notifications import service as outbox
from warroom.policy.schema import Policy
from warroom.scheduler import service as scheduler
from warroom.users import service as users

log = logging.getLogger(__name__)
POSTMORTEM_DUE = "oob_postmortem_due"
_REF = re.compile(r"^(?:OOB-)?(\d{1,12})$", re.IGNORECASE)
_FORM_FIELDS = tuple(OobForm.model_fields)


def parse_ref(ref: str | int) -> int:
    match = _REF.match(str(ref).strip())
    if not match:
        raise NotFound(f"no OOB request '{ref}' (ids look like OOB-3)")
    return int(match.group(1))


def get(session: Session, *, incident: Incident | None, ref: str | int, for_update: bool = False) -> OobRequest:
    """The request `ref`; when `incident` is given it must belong to it."""
    stmt = select(OobRequest).where(OobRequest.id == parse_ref(ref))
    if incident is not None:
        stmt = stmt.where(OobRequest.incident_id == incident.id)
    if for_update:
        stmt = stmt.with_for_update()
    row = session.scalar(stmt)
    if row is None:
        where = f" on {incident.ref}" if incident is not None else ""
        raise NotFound(f"no OOB request {ref}{where}")
    return row


def list_for_incident(session: Session, *, incident_id: int) -> list[OobRequest]:
    return list(
        session.scalars(select(OobRequest).where(OobRequest.incident_id == incident_id).order_by(OobRequest.id))
    )


def form_of(row: OobRequest) -> dict[str, Any]:
    return {name: getattr(row, name) for name in _FORM_FIELDS}


def _apply_form(row: OobRequest, form: OobForm) -> list[str]:
    changed = []
    for name, value in form_dict(form).items():
        if name == "prs":
            value = [str(v) for v in value or []]
        if value is None and name in (
            "confirm_after_cutoff",
            "confirm_cannot_wait",
            "confirm_postmortem",
            "proxies_changed",
            "security_related",
        ):
            value = False
        if getattr(row, name) != value:
            setattr(row, name, value)
            changed.append(name)
    return changed


def notify(
    session: Session, policy: Policy, incident: Incident, row: OobRequest, now: datetime, text: str, **payload: Any
) -> None:
    outbox.enqueue(
        session,
        policy=policy,
        now=now,
        event="oob",
        text=text,
        incident_id=incident.id,
        payload={
            "incident": incident.ref,
            "oob": row.ref,
            "state": row.state,
            "link": incidents.link(policy, incident),
            **payload,
        },
    )


def create(
    session: Session, *, policy: Policy, now: datetime, actor: str, incident: Incident, form: OobForm
) -> OobRequest:
    """A draft request; it is sent to the platform team by moving it to `requested`."""
    if incident.state == "completed":
        raise Conflict(f"{incident.ref} is completed; open no more OOB requests on it")
    row = OobRequest(
        incident_id=incident.id,
        state="draft",
        created_by=actor,
        created_at=now,
        updated_at=now,
        prs=[],
        checklist={},
        confirm_after_cutoff=False,
        confirm_cannot_wait=False,
        confirm_postmortem=False,
        proxies_changed=False,
        security_related=False,
    )
    _apply_form(row, form)
    session.add(row)
    session.flush()
    incidents.add_timeline(
        session,
        incident,
        now=now,
        actor=actor,
        kind="oob",
        text=f"{row.ref} out-of-band deploy request drafted",
        data={"oob": row.ref, "state": "draft"},
    )
    return row


def edit(
    session: Session, *, now: datetime, actor: str, incident: Incident, row: OobRequest, form: OobForm
) -> OobRequest:
    if row.state not in states.EDITABLE_STATES:
        raise Conflict(f"{row.ref} is {row.state}; only a draft's form can change", {"state": row.state})
    changed = _apply_form(row, form)
    if changed:
        row.updated_at = now
        incidents.add_timeline(
            session,
            incident,
            now=now,
            actor=actor,
            kind="oob",
            text=f"{row.ref} form edited: {', '.join(changed)}",
            data={"oob": row.ref, "fields": changed},
        )
    return row


_MESSAGES = {
    "requested": "{ref} out-of-band deploy requested by {actor} for {inc}: {description}",
    "approved": "{ref} out-of-band deploy approved by {actor} for {inc}",
    "deployed": "{ref} out-of-band deploy deployed for {inc} (recorded by {actor}); postmortem due {due}",
    "verified": "{ref} out-of-band deploy verified in production by {actor} for {inc}",
    "rejected": "{ref} out-of-band deploy rejected by {actor} for {inc}",
    "cancelled": "{ref} out-of-band deploy cancelled by {actor} for {inc}",
}


def transition(
    session: Session,
    *,
    policy: Policy,
    now: datetime,
    actor: str,
    incident: Incident,
    row: OobRequest,
    to: str,
    reason: str | None = None,
) -> OobRequest:
    """Move along the table; `requested` needs a complete form, `deployed` the checklist."""
    old = row.state
    states.check_transition(old, to)
    if to == "requested":
        missing = states.missing_fields(form_of(row))
        if missing:
            raise Invalid(
                f"the OOB form is incomplete: {', '.join(missing)}", {"field": missing[0], "missing": missing}
            )
    if to == "deployed":
        missing = states.checklist_missing(
            row.checklist or {}, proxies_changed=row.proxies_changed, security_related=row.security_related
        )
        if missing:
            raise Conflict(
                f"{row.ref} cannot be deployed before the platform checklist is done: {', '.join(missing)}",
                {"missing": missing},
            )
    if to == "approved" and policy.oob.approver_differs_from_requester and actor == row.requested_by:
        raise Forbidden(
            f"{actor} requested {row.ref} and cannot also approve it (separation of duties): someone else approves",
            {"requested_by": row.requested_by, "policy": "oob.approver_differs_from_requester"},
        )
    if to == "rejected" and not (reason or "").strip():
        raise Invalid("say why the request is rejected", {"field": "reason"})
    row.state = to
    row.updated_at = now
    stamp = states.STAMPS[to]
    setattr(row, f"{stamp}_at", now)
    setattr(row, f"{stamp}_by", actor)
    if stamp == "closed":
        row.closed_reason = reason
    if to == "deployed":
        row.postmortem_due_at = states.add_business_days(
            now, policy.oob.postmortem_due_business_days, tz=policy.oob.timezone
        )
        if row.postmortem_done_at is None:
            scheduler.schedule(
                session,
                kind=POSTMORTEM_DUE,
                subject=f"oob:{row.id}",
                due_at=row.postmortem_due_at,
                now=now,
                payload={"oob": row.id, "incident": incident.id},
            )
    due = row.postmortem_due_at.strftime("%a %Y-%m-%d %H:%M UTC") if row.postmortem_due_at else "n/a"
    text = _MESSAGES[to].format(
        ref=row.ref, actor=actor, inc=incident.ref, due=due, description=(row.description or "").strip()[:300]
    )
    if reason:
        text += f". Reason: {reason}"
    incidents.add_timeline(
        session,
        incident,
        now=now,
        actor=actor,
        kind="oob",
        text=text,
        data={"oob": row.ref, "from": old, "to": to, "reason": reason},
    )
    notify(session, policy, incident, row, now, text, previous=old, actor=actor)
    log.info("%s %s -> %s by %s", row.ref, old, to, actor, extra={"incident": incident.ref})
    return row


def may_tick(session: Session, *, policy: Policy, actor: str, incident: Incident, row: OobRequest, item: str) -> None:
    """Separation of duties for a checklist item that needs a role (`oob.checklist_roles`): the
    person holds one of the roles (a user role, or an incident role on this incident) and, when the
    policy separates duties, did not request the deploy."""
    needed = policy.oob.checklist_roles.get(item)
    if not needed:
        return
    label = states.CHECKLIST[item]
    if policy.oob.approver_differs_from_requester and actor == row.requested_by:
        raise Forbidden(
            f"{actor} requested {row.ref} and cannot also tick '{label}' (separation of duties)",
            {"item": item, "requested_by": row.requested_by},
        )
    user = users.by_handle(session, actor)
    held = {user.role} if user is not None and user.active else set()
    held |= {role for role, person in (incident.roles or {}).items() if person == actor}
    if incident.commander == actor:
        held.add("commander")
    if not held & set(needed):
        raise Forbidden(
            f"'{label}' can only be ticked by someone with the role {' or '.join(needed)} "
            f"(on {incident.ref} or as a user); {actor} has none of them",
            {"item": item, "requires": needed},
        )


def tick(
    session: Session,
    *,
    policy: Policy,
    now: datetime,
    actor: str,
    incident: Incident,
    row: OobRequest,
    item: str,
    done: bool = True,
    note: str | None = None,
) -> OobRequest:
    """Record (or undo) one platform checklist item with who and when."""
    if item not in states.CHECKLIST:
        raise Invalid(f"unknown checklist item '{item}'", {"field": "item", "allowed": list(states.CHECKLIST)})
    if row.state not in states.CHECKLIST_STATES:
        raise Conflict(
            f"{row.ref} is {row.state}; the checklist is kept while it is requested, approved or deployed",
            {"state": row.state},
        )
    may_tick(session, policy=policy, actor=actor, incident=incident, row=row, item=item)
    checklist = dict(row.checklist or {})
    if done:
        checklist[item] = {"done": True, "by": actor, "at": now.isoformat(), "note": note}
    else:
        checklist.pop(item, None)
    row.checklist = checklist  # reassign so the JSON column is flagged dirty
    row.updated_at = now
    verb = "ticked" if done else "unticked"
    incidents.add_timeline(
        session,
        incident,
        now=now,
        actor=actor,
        kind="oob",
        text=f"{row.ref} checklist: {states.CHECKLIST[item]} {verb}" + (f" ({note})" if note else ""),
        data={"oob": row.ref, "item": item, "done": done},
    )
    return row


def postmortem_done(
    session: Session, *, now: datetime, actor: str, incident: Incident, row: OobRequest, url: str | None = None
) -> OobRequest:
    """The requester's promised postmortem is written; the reminder is withdrawn."""
    if row.state in ("draft", "rejected", "cancelled"):
        raise Conflict(f"{row.ref} is {row.state}; only deployed requests owe a postmortem")
    row.postmortem_done_at = now
    row.postmortem_url = url
    row.updated_at = now
    scheduler.cancel(session, kind=POSTMORTEM_DUE, subject=f"oob:{row.id}")
    incidents.add_timeline(
        session,
        incident,
        now=now,
        actor=actor,
        kind="oob",
        text=f"{row.ref} postmortem done" + (f": {url}" if url else ""),
        data={"oob": row.ref, "url": url},
    )
    return row


def view(row: OobRequest) -> OobOut:
    checklist = row.checklist or {}
    required = states.required_checklist(proxies_changed=row.proxies_changed, security_related=row.security_related)
    entries = []
    for item, label in states.CHECKLIST.items():
        got = checklist.get(item) or {}
        entries.append(
            ChecklistEntryOut(
                item=item,
                label=label,
                required=item in required,
                done=bool(got.get("done")),
                by=got.get("by"),
                at=got.get("at"),
                note=got.get("note"),
            )
        )
    out = OobOut.model_validate(row)
    out.checklist = entries
    out.checklist_missing = states.checklist_missing(
        checklist, proxies_changed=row.proxies_changed, security_related=row.security_related
    )
    out.form_missing = states.missing_fields(form_of(row)) if row.state == "draft" else []
    out.allowed_transitions = states.allowed(row.state)
    return out
