"""An incident's own Slack channel (policy `slack.incident_channels`, off by default): queued as an
outbox row when a chosen priority is declared or reached, archived when the incident completes."""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from warroom.incidents import card
from warroom.incidents.models import Incident
from warroom.notifications import service as outbox
from warroom.notifications.models import SlackRoom
from warroom.notifications.rooms import ROOM_ARCHIVE, ROOM_OPEN
from warroom.policy.schema import Policy
from warroom.users.models import User

_NOT_NAME = re.compile(r"[^a-z0-9]+")
_WORDS = frozenset({"is", "the", "a", "an", "of", "for", "on", "in", "service", "experiencing"})
NAME_LIMIT = 80  # Slack's channel name limit


def channel_name(policy: Policy, incident: Incident) -> str:
    """`inc-42-sis-degraded`: prefix, number, first service, the title's first telling words."""
    words = [w for w in _NOT_NAME.split(incident.title.lower()) if w and w not in _WORDS]
    service = _NOT_NAME.sub("-", (incident.services or ["incident"])[0].lower()).strip("-")
    words = [w for w in words if w != service][:2]
    name = "-".join([policy.slack.incident_channels.prefix, str(incident.id), service, *words])
    return name[:NAME_LIMIT].rstrip("-")


def _slack_ids(session: Session, handles: list[str]) -> list[str]:
    rows = session.scalars(
        select(User.slack_id).where(User.handle.in_(handles), User.active.is_(True), User.slack_id.is_not(None))
    )
    return sorted({r for r in rows if r})


def follow(session: Session, *, policy: Policy, now: datetime, incident: Incident, event: str) -> None:
    """After `event`: open the room when the priority calls for one, archive it on completion."""
    rooms = policy.slack.incident_channels
    targets = card.channels(policy)[:1]  # the bot's own queue; the room is named in the payload
    if not rooms.priorities or not targets:
        return
    room = session.get(SlackRoom, incident.id)
    if event in ("declared", "priority_changed") and room is None and incident.priority in rooms.priorities:
        name = channel_name(policy, incident)
        session.add(SlackRoom(incident_id=incident.id, name=name, created_at=now))
        oncall = [s.oncall for key in incident.services if (s := policy.service(key)) and s.oncall]
        fields = card.fields(session, policy, incident)
        outbox.enqueue(
            session,
            policy=policy,
            now=now,
            event=ROOM_OPEN,
            text=f"{incident.ref}: open #{name}",
            incident_id=incident.id,
            payload={
                "incident": incident.ref,
                "room": name,
                "invite": _slack_ids(session, [incident.commander, *oncall]),
                "topic": f"{incident.ref} {incident.priority} {incident.severity}: {incident.title}",
                "link": fields["link"],
                "card": fields,
            },
            channels=targets,
        )
    elif event == "completed" and room is not None and room.archived_at is None and rooms.archive_on_completion:
        room.archived_at = now
        outbox.enqueue(
            session,
            policy=policy,
            now=now,
            event=ROOM_ARCHIVE,
            text=f"{incident.ref}: archive #{room.name}",
            incident_id=incident.id,
            payload={"incident": incident.ref, "room": room.name},
            channels=targets,
        )
