"""`warroom simulate FILE --source datadog`: what a webhook payload would do, storing nothing."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from warroom.cli.base import JsonOpt, emit, fail, session_scope
from warroom.ingest import parsers
from warroom.ingest import service as ingest

commands = typer.Typer()  # top-level: `warroom simulate`


@commands.command()
def simulate(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="A webhook body saved as JSON ('-' for stdin)")],
    source: Annotated[str, typer.Option(help="datadog | alertmanager | grafana | events")] = "datadog",
    as_json: JsonOpt = False,
) -> None:
    """Dry-run a payload: service, tier, priority, rule ids, and whether it would declare."""
    try:
        text = sys.stdin.read() if str(file) == "-" else file.read_text()
        items, truncated = parsers.parse(source, json.loads(text))
    except OSError as exc:
        raise fail(f"cannot read {file}: {exc.strerror}", 2) from None
    except ValueError as exc:
        raise fail(f"cannot read this {source} payload: {exc}", 2) from None
    with session_scope(ctx) as (session, cmd):
        results = ingest.simulate(session, policy=cmd.policy, now=cmd.now(), items=items)
        session.rollback()
    lines = [
        f"{r['source']} {r['dedup_key']} {r['status']} ({r['transition']}): "
        f"service {r['service']}{'' if r['mapped'] else ' (unmapped)'}, "
        f"env {r['environment'] or '-'}, Tier {r['tier']}, {r['priority']} "
        f"[{r['priority_rule']}], {r['severity']}\n  -> {r['action']}\n  rules: "
        f"{', '.join(r['rules'])}"
        for r in results
    ]
    if truncated:
        lines.append(f"(the sender dropped {truncated} alert(s) from this batch)")
    emit({"stored": False, "truncated_alerts": truncated, "results": results}, as_json, "\n".join(lines))
