"""The incident room's Datadog panel: the link, whether it is current, and why not."""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy.orm import Session

from warroom.core.settings import Settings
from warroom.datadog import client, queries
from warroom.datadog.models import DatadogPause
from warroom.incidents.models import Incident


def room_panel(session: Session, incident_id: int, settings: Settings) -> Mapping[str, object]:
    incident = session.get(Incident, incident_id)
    row = queries.of_incident(session, incident_id)
    pause = session.get(DatadogPause, 1)  # only ever written while the mirror is on
    return {
        "enabled": row is not None and (row.state != "pending" or row.synced_version > 0 or pause is not None),
        "public_id": incident.datadog_public_id if incident else None,
        "url": client.app_url(settings, incident.datadog_public_id) if incident else None,  # the site's link
        "row": row,
        "paused": pause.reason if pause else None,
    }
