"""/api/v1/alerts: stored alerts, newest first, and one alert with a page of its raw events."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from warroom.alerts import queries as alerts
from warroom.alerts.schemas import AlertDetail, AlertPage
from warroom.alerts.views import alert_detail, alert_out
from warroom.api.deps import ReadDB, Viewer
from warroom.core.refs import number as incident_number

router = APIRouter(tags=["alerts"])


@router.get("/api/v1/alerts", response_model=AlertPage)
def list_alerts(
    db: ReadDB,
    who: Viewer,
    status: Annotated[str | None, Query(pattern=r"^(firing|resolved)(,(firing|resolved))?$")] = None,
    service: Annotated[str | None, Query(max_length=64)] = None,
    source: Annotated[str | None, Query(pattern=r"^(datadog|alertmanager|grafana|events)$")] = None,
    incident: Annotated[str | None, Query(max_length=20)] = None,
    unlinked: bool | None = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    per_page: Annotated[int, Query(ge=1, le=500)] = 50,
) -> AlertPage:
    rows, total = alerts.list_alerts(
        db,
        status=status,
        service=service,
        source=source,
        incident_id=incident_number(incident) if incident else None,
        unlinked=unlinked,
        page=page,
        per_page=per_page,
    )
    return AlertPage(items=[alert_out(a) for a in rows], total=total, page=page, per_page=per_page)


@router.get("/api/v1/alerts/{alert_id}", response_model=AlertDetail)
def show_alert(
    alert_id: int,
    db: ReadDB,
    who: Viewer,
    events_limit: Annotated[int, Query(ge=1, le=500, description="Events per page, newest first")] = 50,
    events_before: Annotated[
        int | None,
        Query(
            ge=1, le=2**31 - 1, description=("Only events with a smaller id: `events_next_before` of the previous page")
        ),
    ] = None,
) -> AlertDetail:
    """The alert and one page of its events with their raw bodies (`events_total` counts them all)."""
    alert = alerts.get_alert(db, alert_id)
    got = alerts.events(db, alert_id=alert.id, limit=events_limit, before=events_before)
    return alert_detail(alert, got.events, total=got.total, older=got.older)
