"""/api/v1/reports: MTTA, time to mitigate/resolve, cadence compliance; CSV, Markdown, SVG."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import PlainTextResponse, Response

from warroom.api.deps import ReadDB, State, Viewer
from warroom.core.bounds import UtcDateTime
from warroom.reports import charts, formats
from warroom.reports import service as reports
from warroom.reports.schemas import GroupBy, PagingReport, Report

router = APIRouter(prefix="/api/v1/reports", tags=["reports"])
Metric = Literal[
    "incidents",
    "acknowledged",
    "mitigated",
    "resolved",
    "mtta_seconds",
    "time_to_mitigate_seconds",
    "time_to_resolve_seconds",
    "updates",
    "updates_on_time",
    "late_updates",
    "update_compliance",
    "missed_updates",
    "alerts",
    "alerts_per_incident",
    "oob_requests",
    "oob_deploys",
]
FromQ = Annotated[UtcDateTime, Query(alias="from", description="Start (inclusive), ISO 8601; naive = UTC")]
ToQ = Annotated[UtcDateTime, Query(alias="to", description="End (exclusive), ISO 8601; naive = UTC")]


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@router.get("", response_model=Report)
def report(
    state: State,
    db: ReadDB,
    who: Viewer,
    start: FromQ,
    end: ToQ,
    group_by: GroupBy = "priority",
    format: Literal["json", "csv"] = "json",
) -> Report | Response:  # noqa: A002
    """Incidents declared in [from, to), grouped; `format=csv` for a spreadsheet."""
    body = reports.build(db, policy=state.policy, now=state.now(), start=_utc(start), end=_utc(end), group_by=group_by)
    if format == "csv":
        return PlainTextResponse(formats.to_csv(body), media_type="text/csv")
    return body


@router.get("/paging", response_model=PagingReport)
def paging(state: State, db: ReadDB, who: Viewer, start: FromQ, end: ToQ) -> PagingReport:
    """Pages sent in [from, to): per person and month, out of hours (policy `paging.working_hours`),
    acknowledgements by level, and MTTA from the first page to the acknowledgement."""
    return reports.paging_report(db, policy=state.policy, now=state.now(), start=_utc(start), end=_utc(end))


@router.get("/monthly", response_class=PlainTextResponse)
def monthly(
    state: State, db: ReadDB, who: Viewer, month: Annotated[str, Query(pattern=r"^\d{4}-\d{2}$")]
) -> PlainTextResponse:
    """The monthly Markdown report for leadership."""
    text = reports.monthly_markdown(db, policy=state.policy, now=state.now(), month=month)
    return PlainTextResponse(text, media_type="text/markdown; charset=utf-8")


@router.get("/chart.svg")
def chart(
    state: State,
    db: ReadDB,
    who: Viewer,
    start: FromQ,
    end: ToQ,
    group_by: GroupBy = "priority",
    metric: Metric = "mtta_seconds",
) -> Response:
    """One column as a server-rendered SVG bar chart (embed with <img>)."""
    body = reports.build(db, policy=state.policy, now=state.now(), start=_utc(start), end=_utc(end), group_by=group_by)
    return Response(charts.report_chart(body, metric=metric), media_type="image/svg+xml")
