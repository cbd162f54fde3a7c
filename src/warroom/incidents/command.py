"""Who commands an incident: an active user whose role may command (policy `commander_roles`),
never free text; handing over command is its own action, and deactivating a commander needs one."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from warroom.core.errors import Conflict, Invalid
from warroom.core.hooks import Deactivation
from warroom.incidents.models import Incident
from warroom.notifications import service as outbox
from warroom.policy.schema import Policy
from warroom.users.models import User

COMMANDER_CHANGED = "commander_changed"


def eligible(session: Session, *, policy: Policy) -> list[User]:
    """The people who may command, for the forms' choices: active, with a commanding role."""
    return list(
        session.scalars(
            select(User).where(User.active.is_(True), User.role.in_(list(policy.commander_roles))).order_by(User.handle)
        )
    )


def problem(session: Session, *, policy: Policy, handle: str) -> str | None:
    """Why `handle` cannot command, or None when they can."""
    user = session.scalar(select(User).where(User.handle == handle.strip().lower()))
    if user is None:
        return f"'{handle}' is not a warroom user"
    if not user.active:
        return f"{user.handle} is deactivated"
    if user.role not in policy.commander_roles:
        return f"{user.handle} is a {user.role}; a commander is one of: {', '.join(policy.commander_roles)}"
    return None


def check(session: Session, *, policy: Policy, handle: str, field: str = "commander") -> str:
    """The handle, normalised, if that person may command; else 422 naming the field."""
    handle = handle.strip().lower()
    why = problem(session, policy=policy, handle=handle) if handle else "a commander is required"
    if why:
        raise Invalid(
            f"the commander must be an active warroom user who may command: {why}",
            {"field": field, "allowed_roles": list(policy.commander_roles)},
        )
    return handle


def hand_over(
    session: Session,
    *,
    policy: Policy,
    now: datetime,
    actor: str,
    incident: Incident,
    to: str,
    reason: str | None = None,
    field: str = "commander",
) -> Incident:
    """Give command to `to`: on the timeline and notified, naming the old and the new commander.
    Reminders still queued for the old commander are dropped (the next ones go to the new one)."""
    from warroom.incidents import service as incidents

    if incident.state == "completed":
        raise Conflict(f"{incident.ref} is completed; its commander is part of the record")
    new = check(session, policy=policy, handle=to, field=field)
    old = incident.commander
    if new == old:
        raise Conflict(f"{new} already commands {incident.ref}", {"field": "commander"})
    incident.commander = new
    incident.updated_at = now
    why = f": {reason.strip()}" if reason and reason.strip() else ""
    incidents.add_timeline(
        session,
        incident,
        now=now,
        actor=actor,
        kind="role_changed",
        text=f"Command handed over from {old} to {new} by {actor}{why}",
        data={"role": "commander", "from": old, "to": new, "handover": True, "reason": reason},
    )
    outbox.obsolete(
        session, incident_id=incident.id, now=now, reason=f"command handed over to {new}", events=("reminder",)
    )
    old_who, old_names = incidents.mention(session, policy, old)
    new_who, new_names = incidents.mention(session, policy, new)
    incidents.notify(
        session,
        policy,
        incident,
        now,
        COMMANDER_CHANGED,
        f":busts_in_silhouette: {incident.ref} {incident.title}: command handed over from {old_who} to {new_who} "
        f"by {actor}{why}",
        mentions={**old_names, **new_names},
        previous_commander=old,
    )
    return incident


def note_unassigned(session: Session, *, policy: Policy, now: datetime, incident: Incident) -> str | None:
    """An automatic declaration keeps the service's on-call as commander even when that is not a
    person who may command (until on-call schedules name one): say so on the timeline."""
    from warroom.incidents import service as incidents

    why = problem(session, policy=policy, handle=incident.commander)
    if why is None:
        return None
    incidents.add_timeline(
        session,
        incident,
        now=now,
        actor=incidents.SYSTEM,
        kind="commander_unassigned",
        text=f"Commander {incident.commander} cannot command ({why}): hand over command to a person",
        data={"commander": incident.commander, "problem": why},
    )
    return why


def on_deactivate(session: Session, d: Deactivation) -> None:
    """Deactivating someone who commands an incident not yet completed needs a new commander
    (`replacement`), who takes over each of them."""
    handle = d.handle.strip().lower()
    commanded = list(
        session.scalars(
            select(Incident)
            .where(Incident.commander == handle, Incident.state != "completed")
            .order_by(Incident.id)
            .with_for_update()
        )
    )
    if not commanded:
        return
    refs = [i.ref for i in commanded]
    if not d.replacement:
        raise Conflict(
            f"{handle} commands {', '.join(refs)}: name a new commander (new_commander) to deactivate them",
            {"field": "new_commander", "incidents": refs},
        )
    if d.replacement.strip().lower() == handle:
        raise Invalid("the new commander must be someone else", {"field": "new_commander"})
    for incident in commanded:
        hand_over(
            session,
            policy=d.policy,
            now=d.now,
            actor=d.actor,
            incident=incident,
            to=d.replacement,
            reason=f"{handle} was deactivated",
            field="new_commander",
        )
