"""What deploys add to the incident: a block of the room page and a section of the postmortem."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy.orm import Session

from warroom.core.settings import Settings
from warroom.deploys import forms, states
from warroom.deploys import service as oob


def room_panel(session: Session, incident_id: int, settings: Settings) -> Mapping[str, object]:
    """The incident's requests, and a blank form to open one (deploys/templates/_oob_panel.html)."""
    return {
        "oobs": oob.list_for_incident(session, incident_id=incident_id),
        "oob_form": forms.blank(),
        "names": forms.LABELS,
        "severities": states.PLATFORM_SEVERITIES,
    }


def postmortem_section(session: Session, incident_id: int) -> str | None:
    """The OOB deploys of an incident, for its postmortem."""
    rows = oob.list_for_incident(session, incident_id=incident_id)
    rows = [r for r in rows if r.state != "draft"]
    if not rows:
        return None

    def when(value: datetime | None, who: str | None) -> str:
        return f"{value:%Y-%m-%d %H:%M} UTC by {who}" if value else "n/a"

    lines = ["## Out-of-band deploys"]
    for r in rows:
        lines += [
            f"- **{r.ref}** ({r.state}, platform severity {r.platform_severity}): {r.description}",
            f"  - Why it could not wait: {r.reason}",
            f"  - PRs: {', '.join(r.prs or []) or 'none'}",
            f"  - Requested {when(r.requested_at, r.requested_by)}; approved "
            f"{when(r.approved_at, r.approved_by)}; deployed {when(r.deployed_at, r.deployed_by)}; "
            f"verified {when(r.verified_at, r.verified_by)}",
        ]
        if r.closed_at:
            lines.append(f"  - Closed ({r.state}) {when(r.closed_at, r.closed_by)}: {r.closed_reason or ''}")
        if r.deployed_at:
            done = f"done {r.postmortem_done_at:%Y-%m-%d}" if r.postmortem_done_at else "not done"
            lines.append(
                f"  - OOB postmortem due {r.postmortem_due_at:%Y-%m-%d %H:%M} UTC: {done}"
                + (f" ({r.postmortem_url})" if r.postmortem_url else "")
            )
    return "\n".join(lines) + "\n"
