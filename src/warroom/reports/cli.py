"""`warroom report`: monthly MTTA / time to mitigate and resolve / cadence compliance."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from warroom.cli.base import fail, session_scope
from warroom.reports import charts, formats
from warroom.reports import service as reports

commands = typer.Typer()  # top-level: `warroom report`


def _parse_day(value: str, name: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise fail(f"--{name} must be an ISO date like 2026-10-01", 2) from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


@commands.command("report")
def report(
    ctx: typer.Context,
    month: Annotated[str | None, typer.Option(help="Calendar month (UTC), e.g. 2026-10")] = None,
    from_: Annotated[str | None, typer.Option("--from", help="Start (inclusive), ISO date/time")] = None,
    to: Annotated[str | None, typer.Option("--to", help="End (exclusive), ISO date/time")] = None,
    group_by: Annotated[str, typer.Option("--group-by", help="month | priority | service | severity")] = "priority",
    fmt: Annotated[str, typer.Option("--format", help="table | csv | json | markdown")] = "table",
    svg: Annotated[Path | None, typer.Option("--svg", help="Also write a bar chart of --metric here")] = None,
    metric: Annotated[str, typer.Option(help="Column charted by --svg")] = "mtta_seconds",
    paging: Annotated[bool, typer.Option("--paging", help="The paging report: pages per person, by level")] = False,
) -> None:
    """Incidents declared in a period: count, MTTA, time to mitigate/resolve, updates on time."""
    if fmt not in ("table", "csv", "json", "markdown"):
        raise fail("--format is table, csv, json or markdown", 2)
    if fmt == "markdown" and not month:
        raise fail("--format markdown is the monthly report: give --month", 2)
    if month:
        if from_ or to:
            raise fail("give --month or --from/--to, not both", 2)
        start, end = _month(month)
    elif from_ and to:
        start, end = _parse_day(from_, "from"), _parse_day(to, "to")
    else:
        raise fail("give --month 2026-10, or --from and --to", 2)
    with session_scope(ctx) as (session, cmd):
        policy, now = cmd.policy, cmd.now()
        if fmt == "markdown":
            typer.echo(reports.monthly_markdown(session, policy=policy, now=now, month=month or ""), nl=False)
            return
        if paging:
            paged = reports.paging_report(session, policy=policy, now=now, start=start, end=end)
            typer.echo(
                json.dumps(paged.model_dump(mode="json"), indent=2) if fmt == "json" else formats.paging_text(paged)
            )
            return
        built = reports.build(session, policy=policy, now=now, start=start, end=end, group_by=group_by)
    if svg is not None:
        try:
            svg.write_text(charts.report_chart(built, metric=metric), encoding="utf-8")
        except ValueError as exc:
            raise fail(str(exc), 2) from None
    if fmt == "json":
        typer.echo(json.dumps(built.model_dump(mode="json"), indent=2))
    elif fmt == "csv":
        typer.echo(formats.to_csv(built), nl=False)
    else:
        typer.echo(f"Incidents declared {start:%Y-%m-%d} to {end:%Y-%m-%d} (UTC), by {group_by}")
        typer.echo(formats.to_table(built), nl=False)


def _month(month: str) -> tuple[datetime, datetime]:
    from warroom.core.errors import Invalid

    try:
        return reports.month_bounds(month)
    except Invalid as exc:
        raise fail(exc.message, 2) from None
