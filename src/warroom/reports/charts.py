"""Server-rendered SVG bar charts (pure): the UI embeds them, no charting library needed."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from warroom.reports.formats import human
from warroom.reports.schemas import Report, ReportRow


def bar_chart(
    *,
    title: str,
    labels: Sequence[str],
    values: Sequence[float | None],
    metric: str = "",
    width: int = 640,
    bar_height: int = 22,
) -> str:
    """Horizontal bars, one per label; `None` values are drawn as "n/a" with no bar."""
    if len(labels) != len(values):
        raise ValueError("labels and values must have the same length")
    label_w, pad, top = 140, 8, 34
    plot_w = max(width - label_w - 110, 50)
    height = top + len(labels) * (bar_height + pad) + pad
    peak = max((v for v in values if v is not None and v > 0), default=1.0)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}" '
        'font-family="system-ui, sans-serif" font-size="13">',
        f"<title>{escape(title)}</title>",
        f'<text x="{pad}" y="20" font-weight="600" font-size="15">{escape(title)}</text>',
    ]
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        y = top + i * (bar_height + pad)
        mid = y + bar_height * 0.7
        parts.append(f'<text x="{label_w - pad}" y="{mid:.1f}" text-anchor="end">{escape(str(label))}</text>')
        shown = human(metric, value)
        if value is not None and value > 0:
            w = max(plot_w * value / peak, 1.0)
            parts.append(
                f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{bar_height}" '
                f'fill="#2f6fb0"><title>{escape(str(label))}: {escape(shown)}</title></rect>'
            )
        else:
            w = 0.0
        parts.append(f'<text x="{label_w + w + pad:.1f}" y="{mid:.1f}">{escape(shown)}</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def report_chart(report: Report, *, metric: str, title: str | None = None) -> str:
    """A chart of one report column across its groups."""
    if metric not in ReportRow.model_fields or metric == "key":
        raise ValueError(f"unknown metric '{metric}'")
    rows = report.rows
    labels = [r.key for r in rows]
    values = [getattr(r, metric) for r in rows]
    return bar_chart(title=title or metric.replace("_", " "), labels=labels, values=values, metric=metric)
