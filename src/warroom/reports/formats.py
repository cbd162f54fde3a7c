"""Reports as CSV, a terminal table, and the monthly Markdown report for leadership."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

from warroom.policy.durations import format_duration
from warroom.reports import rules
from warroom.reports.schemas import PagingReport, Report, ReportRow

_DURATIONS = ("mtta_seconds", "time_to_mitigate_seconds", "time_to_resolve_seconds")
_TABLE = (
    ("key", "group"),
    ("incidents", "incidents"),
    ("mtta_seconds", "MTTA"),
    ("time_to_mitigate_seconds", "to mitigate"),
    ("time_to_resolve_seconds", "to resolve"),
    ("update_compliance", "updates on time"),
    ("missed_updates", "missed"),
    ("alerts_per_incident", "alerts/incident"),
    ("oob_deploys", "OOB deploys"),
)


def human(name: str, value: object) -> str:
    if value is None:
        return "n/a"
    if name in _DURATIONS:
        return format_duration(timedelta(seconds=float(value)))  # type: ignore[arg-type]
    if name == "update_compliance":
        return f"{float(value) * 100:.1f}%"  # type: ignore[arg-type]
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def to_csv(report: Report) -> str:
    """Raw numbers (seconds, ratios), one row per group then `total`."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(rules.COLUMNS)
    for row in [*report.rows, report.total]:
        data = row.model_dump()
        writer.writerow(["" if data[c] is None else data[c] for c in rules.COLUMNS])
    return buf.getvalue()


def _grid(rows: list[ReportRow]) -> list[list[str]]:
    return [[human(name, getattr(r, name)) for name, _ in _TABLE] for r in rows]


def table(report: Report) -> tuple[list[str], list[list[str]]]:
    """Header labels and human-readable cells (groups, then total), as the table and the web page show them."""
    return [label for _, label in _TABLE], _grid([*report.rows, report.total])


def to_table(report: Report) -> str:
    header = [label for _, label in _TABLE]
    body = _grid([*report.rows, report.total])
    widths = [max(len(x) for x in col) for col in zip(header, *body, strict=False)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) for line in body]
    return "\n".join(lines) + "\n"


def md_table(report: Report) -> str:
    header = [label for _, label in _TABLE]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for cells in _grid([*report.rows, report.total]):
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"


def paging_lines(p: PagingReport) -> list[str]:
    """The paging figures as Markdown bullets (and the people table)."""
    levels = ", ".join(f"level {k}: {n}" for k, n in p.acknowledged_by_level.items()) or "none"
    lines = [
        f"- Incidents paged: **{p.incidents_paged}** ({p.pages} pages, **{p.out_of_hours_pages}** out of hours)",
        f"- MTTA from the first page: **{human('mtta_seconds', p.mtta_seconds)}** "
        f"({p.acknowledged} acknowledged, {p.unacknowledged} not)",
        f"- Acknowledged at: {levels}",
    ]
    if p.people:
        lines += ["", "| Person | Month | Pages | Out of hours |", "|---|---|---|---|"]
        lines += [f"| {x.user} | {x.month} | {x.pages} | {x.out_of_hours} |" for x in p.people]
    return lines


def paging_text(p: PagingReport) -> str:
    return f"Pages sent {p.start:%Y-%m-%d} to {p.end:%Y-%m-%d} (UTC)\n" + "\n".join(paging_lines(p)) + "\n"


def monthly_markdown(
    *,
    team: str,
    month: str,
    by_priority: Report,
    by_severity: Report,
    by_service: Report,
    paging: PagingReport | None = None,
) -> str:
    """A report ready to paste for leadership: headline figures, then per group tables."""
    t = by_priority.total
    lines = [
        f"# Incident report {month}: {team}",
        "",
        f"Period: {by_priority.start:%Y-%m-%d} to {by_priority.end:%Y-%m-%d} (UTC), "
        f"generated {by_priority.generated_at:%Y-%m-%d %H:%M} UTC.",
        "",
        "## Headlines",
        "",
        f"- Incidents declared: **{t.incidents}**",
        f"- Mean time to acknowledge (MTTA): **{human('mtta_seconds', t.mtta_seconds)}**",
        f"- Mean time to mitigate: **{human('time_to_mitigate_seconds', t.time_to_mitigate_seconds)}**",
        f"- Mean time to resolve: **{human('time_to_resolve_seconds', t.time_to_resolve_seconds)}**",
        f"- Status updates on time: **{human('update_compliance', t.update_compliance)}** "
        f"({t.updates_on_time} of {t.updates}; {t.missed_updates} missed)",
        f"- Alerts per incident: **{human('alerts_per_incident', t.alerts_per_incident)}**",
        f"- Out-of-band deploys: **{t.oob_deploys}** (of {t.oob_requests} requested)",
        "",
        *(["## Paging", "", *paging_lines(paging), ""] if paging is not None and paging.incidents_paged else []),
        "## By priority",
        "",
        md_table(by_priority),
        "## By severity",
        "",
        md_table(by_severity),
        "## By service",
        "",
        md_table(by_service),
        "Times are measured from the first alert (or the declaration when there was none); "
        "MTTA of a paged incident from its first page. "
        "Mitigated means stable (or resolved, when an incident went straight to resolved). "
        "An incident affecting several services counts once in each service's row.",
        "",
    ]
    return "\n".join(lines)
