"""The Reports page (figures, inline SVG charts) and its CSV and monthly Markdown downloads."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import PlainTextResponse, Response
from markupsafe import Markup

from warroom.api.deps import get_state
from warroom.core.errors import Invalid
from warroom.reports import charts, formats, rules
from warroom.reports import service as reports
from warroom.reports.schemas import PagingReport, Report
from warroom.web.auth import PageUser
from warroom.web.render import no_store, page

router = APIRouter()
CHARTS = (
    ("incidents", "Incidents declared"),
    ("mtta_seconds", "Mean time to acknowledge"),
    ("time_to_mitigate_seconds", "Mean time to mitigate"),
    ("time_to_resolve_seconds", "Mean time to resolve"),
    ("update_compliance", "Status updates on time"),
)
FromQ = Annotated[str | None, Query(alias="from", max_length=10)]
ToQ = Annotated[str | None, Query(alias="to", max_length=10)]
GroupQ = Annotated[str | None, Query(max_length=16)]


def last_full_month(today: date) -> tuple[date, date]:
    """The first and last day of the month before `today`'s."""
    last = today.replace(day=1) - timedelta(days=1)
    return last.replace(day=1), last


def _day(value: str, name: str) -> date:
    try:
        day: date | None = date.fromisoformat(value)
    except ValueError:
        day = None
    if day is None or day == date.max:  # the period ends the day after `to`
        raise Invalid(f"'{name}' is a date like 2026-10-05, got '{value}'", {"field": name})
    return day


def _period(
    request: Request, date_from: str | None, date_to: str | None, group_by: str | None
) -> tuple[date, date, str]:
    """from/to are calendar days, both included (the API's `to` is exclusive: to + 1 day)."""
    start_default, end_default = last_full_month(get_state(request).now().date())
    start = _day(date_from, "from") if date_from else start_default
    end = _day(date_to, "to") if date_to else end_default
    group = group_by or "priority"
    if group not in rules.GROUPS:
        raise Invalid(f"group by one of {', '.join(rules.GROUPS)}", {"field": "group_by"})
    if end < start:
        raise Invalid("'to' must not be before 'from'", {"field": "to"})
    return start, end, group


def _bounds(start: date, end: date) -> tuple[datetime, datetime]:
    """Whole UTC days, the end day included."""
    return (
        datetime.combine(start, datetime.min.time(), tzinfo=UTC),
        datetime.combine(end + timedelta(days=1), datetime.min.time(), tzinfo=UTC),
    )


def _build(request: Request, start: date, end: date, group: str) -> Report:
    state = get_state(request)
    since, until = _bounds(start, end)
    with state.read_sessions() as s:
        return reports.build(s, policy=state.policy, now=state.now(), start=since, end=until, group_by=group)


def _paging(request: Request, start: date, end: date) -> PagingReport:
    """The API's paging report for the same days (who was paged, MTTA from the first page)."""
    state = get_state(request)
    since, until = _bounds(start, end)
    with state.read_sessions() as s:
        return reports.paging_report(s, policy=state.policy, now=state.now(), start=since, end=until)


@router.get("/reports")
def reports_page(
    request: Request, who: PageUser, date_from: FromQ = None, date_to: ToQ = None, group_by: GroupQ = None
) -> Response:
    ctx: dict[str, Any] = {
        "groups": rules.GROUPS,
        "error": None,
        "report": None,
        "header": [],
        "cells": [],
        "charts": [],
        "paging": None,
        "chosen": {"from": date_from or "", "to": date_to or "", "group_by": group_by or "priority"},
    }
    try:
        start, end, group = _period(request, date_from, date_to, group_by)
        report = _build(request, start, end, group)
    except Invalid as exc:
        ctx["error"] = exc.message
        return page(request, "reports.html", status=422, who=who, **ctx)
    query = urlencode({"from": start.isoformat(), "to": end.isoformat(), "group_by": group})
    header, cells = formats.table(report)
    paged = _paging(request, start, end)
    ctx.update(
        report=report,
        header=header,
        cells=cells,
        paging=paged,
        paging_mtta=formats.human("mtta_seconds", paged.mtta_seconds),
        csv_url=f"/reports.csv?{query}",
        month=start.strftime("%Y-%m"),
        chosen={"from": start.isoformat(), "to": end.isoformat(), "group_by": group},
        charts=[Markup(charts.report_chart(report, metric=m, title=f"{t} by {group}")) for m, t in CHARTS]
        if report.rows
        else [],
    )
    return page(request, "reports.html", who=who, **ctx)


@router.get("/reports.csv")
def reports_csv(
    request: Request, who: PageUser, date_from: FromQ = None, date_to: ToQ = None, group_by: GroupQ = None
) -> Response:
    """The API's CSV (raw seconds and ratios), as a download."""
    try:
        start, end, group = _period(request, date_from, date_to, group_by)
    except Invalid as exc:
        return no_store(PlainTextResponse(exc.message, 422))
    body = formats.to_csv(_build(request, start, end, group))
    return no_store(
        PlainTextResponse(
            body,
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="warroom-report-{start}-to-{end}-by-{group}.csv"'},
        )
    )


@router.get("/reports/monthly.md")
def monthly_markdown(
    request: Request, who: PageUser, month: Annotated[str | None, Query(max_length=7)] = None
) -> Response:
    """The leadership report for one month (default: the last full month), as a download."""
    state = get_state(request)
    chosen = month or last_full_month(state.now().date())[0].strftime("%Y-%m")
    try:
        with state.read_sessions() as s:
            text = reports.monthly_markdown(s, policy=state.policy, now=state.now(), month=chosen)
    except Invalid as exc:
        return no_store(PlainTextResponse(exc.message, 422))
    return no_store(
        PlainTextResponse(
            text,
            media_type="text/markdown; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="incident-report-{chosen}.md"'},
        )
    )
