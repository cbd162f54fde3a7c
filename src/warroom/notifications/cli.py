"""`warroom notifications list|retry`: see what the outbox could not deliver and send it again."""

from __future__ import annotations

from typing import Annotated

import typer

from warroom.cli.base import JsonOpt, emit, session_scope
from warroom.core.refs import number as incident_number
from warroom.notifications import service as outbox
from warroom.notifications.schemas import NotificationOut

notifications_app = typer.Typer(help="Outgoing notifications (the outbox).", no_args_is_help=True)


@notifications_app.command("list")
def list_cmd(
    ctx: typer.Context,
    state: Annotated[str, typer.Option(help="pending | sent | dead | obsolete (comma-separated)")] = "dead",
    incident: Annotated[str | None, typer.Option(help="Only this incident (INC-12)")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
    as_json: JsonOpt = False,
) -> None:
    """List notifications, dead ones by default, newest first."""
    with session_scope(ctx) as (session, cmd):
        rows, total = outbox.list_notifications(
            session, state=state, limit=limit, incident_id=incident_number(incident) if incident else None
        )
        data = [NotificationOut.model_validate(r).model_dump(mode="json") for r in rows]
    lines = [
        f"{d['id']:>6} {d['state']:<7} {d['event']:<16} {d['channel']:<14} {d['incident'] or '-':<8} "
        f"attempts={d['attempts']} {d['last_error'] or ''}"
        for d in data
    ]
    emit(
        {"items": data, "total": total},
        as_json,
        "\n".join(lines + [f"{total} {state} notification(s)"]) if data else f"no {state} notifications",
    )


@notifications_app.command("retry")
def retry_cmd(
    ctx: typer.Context,
    notification_id: Annotated[int, typer.Argument(help="Notification id")],
    as_json: JsonOpt = False,
) -> None:
    """Queue a dead notification again with a fresh attempt budget."""
    with session_scope(ctx) as (session, cmd):
        row = outbox.retry(session, notification_id=notification_id, now=cmd.now())
        data = NotificationOut.model_validate(row).model_dump(mode="json")
    emit(data, as_json, f"notification {notification_id} queued again ({data['event']} to {data['channel']})")
