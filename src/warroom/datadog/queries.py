"""Reading the mirror's state for the API, the UI and /healthz."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from warroom.datadog.models import DatadogMirror, DatadogPause


@dataclass
class Status:
    paused: str | None = None
    paused_since: datetime | None = None
    waiting: int = 0
    retrying: int = 0
    dead: int = 0
    deleted: int = 0
    problems: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "paused": self.paused,
            "paused_since": self.paused_since.isoformat() if self.paused_since else None,
            "waiting": self.waiting,
            "retrying": self.retrying,
            "dead": self.dead,
            "deleted": self.deleted,
            "problems": self.problems,
        }


def status(session: Session, *, limit: int = 50) -> Status:
    out = Status()
    pause = session.get(DatadogPause, 1)
    if pause is not None:
        out.paused, out.paused_since = pause.reason, pause.since
    dirty = DatadogMirror.version > DatadogMirror.synced_version
    live = DatadogMirror.state.in_(("pending", "linked"))
    waiting, retrying = session.execute(
        select(func.count(), func.count(DatadogMirror.last_error)).where(live, dirty)  # COUNT(col): not null
    ).one()
    out.waiting, out.retrying = int(waiting or 0), int(retrying or 0)
    for state, count in session.execute(
        select(DatadogMirror.state, func.count())
        .where(DatadogMirror.state.in_(("dead", "deleted")))
        .group_by(DatadogMirror.state)
    ):
        setattr(out, state, int(count))
    rows = session.scalars(
        select(DatadogMirror)
        .where(DatadogMirror.last_error.is_not(None))
        .order_by(DatadogMirror.incident_id.desc())
        .limit(limit)
    )
    out.problems = [{"incident": f"INC-{m.incident_id}", "state": m.state, "error": m.last_error} for m in rows]
    return out


def of_incident(session: Session, incident_id: int) -> DatadogMirror | None:
    return session.get(DatadogMirror, incident_id)
