"""Generate postmortems from the incident record; versions keep every human edit."""

from __future__ import annotations

from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from warroom.core.errors import Conflict, NotFound
from warroom.core.hooks import Hooks
from warroom.incidents import queries as incident_queries
from warroom.incidents.models import Incident, PostmortemVersion
from warroom.policy.durations import format_duration
from warroom.policy.schema import Policy

# Bookkeeping the postmortem's timeline leaves out: reminders to post an update are not events.
LEFT_OUT = frozenset({"reminder"})


def _template(policy: Policy) -> jinja2.Template:
    if policy.postmortem_template:
        text = Path(policy.postmortem_template).read_text(encoding="utf-8")
    else:
        text = resources.files("warroom.incidents").joinpath("postmortem.md.j2").read_text("utf-8")
    env = jinja2.Environment(autoescape=False, keep_trailing_newline=True, undefined=jinja2.StrictUndefined)
    return env.from_string(text)


def durations(incident: Incident) -> dict[str, Any]:
    """Each measured from the start: the first alert if there was one, else the declaration."""
    start = incident.first_alert_at or incident.declared_at

    def since(t: datetime | None) -> str:
        return format_duration(t - start) if t else "n/a"

    return {
        "start": start,
        "declare": since(incident.declared_at) if incident.first_alert_at else "0s (declared by hand)",
        "acknowledge": since(incident.acknowledged_at),
        "mitigate": since(incident.stable_at),
        "resolve": since(incident.resolved_at),
    }


def render(session: Session, *, policy: Policy, incident: Incident, hooks: Hooks) -> str:
    """The Markdown: the template over the incident record, then each domain's section (`hooks`)."""
    d = durations(incident)
    start = d["start"]
    fmt = "%Y-%m-%d %H:%M:%S"
    key_times = []
    for label, when in (
        ("First alert", incident.first_alert_at),
        ("Declared", incident.declared_at),
        ("Acknowledged", incident.acknowledged_at),
        ("Stable", incident.stable_at),
        ("Resolved", incident.resolved_at),
    ):
        key_times.append(
            (label, when.strftime(fmt) if when else "n/a", format_duration(when - start) if when else "n/a")
        )
    services = []
    for key in incident.services:
        svc = policy.service(key)
        services.append({"key": key, "name": svc.name if svc else key, "runbook": svc.runbook if svc else ""})
    severity = next((s for s in policy.severities if s.key == incident.severity), None)
    extra = [s for s in (p(session, incident.id) for p in hooks.postmortem_sections) if s]
    return _template(policy).render(
        incident=incident,
        services=services,
        severity=severity,
        roles=sorted(incident.roles.items()),
        key_times=key_times,
        durations=d,
        updates=incident_queries.updates(session, incident_id=incident.id),
        timeline=[e for e in incident_queries.timeline(session, incident_id=incident.id) if e.kind not in LEFT_OUT],
        extra_sections=extra,
    )


def current(session: Session, *, incident_id: int) -> PostmortemVersion | None:
    return session.scalar(
        select(PostmortemVersion)
        .where(PostmortemVersion.incident_id == incident_id)
        .order_by(PostmortemVersion.version.desc())
        .limit(1)
    )


def versions(session: Session, *, incident_id: int) -> list[PostmortemVersion]:
    return list(
        session.scalars(
            select(PostmortemVersion)
            .where(PostmortemVersion.incident_id == incident_id)
            .order_by(PostmortemVersion.version)
        )
    )


def _append(
    session: Session, *, incident_id: int, now: datetime, actor: str, source: str, markdown: str
) -> PostmortemVersion:
    last = (
        session.scalar(select(func.max(PostmortemVersion.version)).where(PostmortemVersion.incident_id == incident_id))
        or 0
    )
    row = PostmortemVersion(
        incident_id=incident_id, version=last + 1, source=source, author=actor, markdown=markdown, created_at=now
    )
    session.add(row)
    session.flush()
    return row


def generate(
    session: Session,
    *,
    policy: Policy,
    now: datetime,
    actor: str,
    incident: Incident,
    automatic: bool = False,
    force: bool = False,
    hooks: Hooks,
) -> PostmortemVersion | None:
    """A new generated version; never on top of a human edit unless forced (older versions stay)."""
    from warroom.incidents import service as incidents

    latest = current(session, incident_id=incident.id)
    if latest is not None and latest.source == "edited" and not force:
        if automatic:
            incidents.add_timeline(
                session,
                incident,
                now=now,
                actor=actor,
                kind="postmortem",
                text=f"Postmortem not regenerated: version {latest.version} has human edits",
            )
            return None
        raise Conflict(
            "the current postmortem has human edits; regenerate with force=true "
            "(the edited version is kept as an older version)",
            {"version": latest.version, "author": latest.author},
        )
    row = _append(
        session,
        incident_id=incident.id,
        now=now,
        actor=actor,
        source="generated",
        markdown=render(session, policy=policy, incident=incident, hooks=hooks),
    )
    incidents.add_timeline(
        session, incident, now=now, actor=actor, kind="postmortem", text=f"Postmortem generated (version {row.version})"
    )
    return row


def save_edit(
    session: Session, *, now: datetime, actor: str, incident: Incident, markdown: str, base_version: int | None = None
) -> PostmortemVersion:
    """Store a human edit as a new version; `base_version` guards against lost updates."""
    from warroom.incidents import service as incidents

    if incident.state == "completed":
        raise Conflict(f"{incident.ref} is completed; its postmortem is final")
    latest = current(session, incident_id=incident.id)
    if base_version is not None and latest is not None and latest.version != base_version:
        raise Conflict(
            f"the postmortem changed since version {base_version} (now {latest.version}); reload and merge your edit",
            {"current_version": latest.version},
        )
    row = _append(session, incident_id=incident.id, now=now, actor=actor, source="edited", markdown=markdown)
    incidents.add_timeline(
        session, incident, now=now, actor=actor, kind="postmortem", text=f"Postmortem edited (version {row.version})"
    )
    return row


def require_current(session: Session, *, incident: Incident) -> PostmortemVersion:
    row = current(session, incident_id=incident.id)
    if row is None:
        raise NotFound(
            f"{incident.ref} has no postmortem yet (it is generated on resolution, or POST .../postmortem/generate)"
        )
    return row
