"""`warroom incident ...`: the incident operations of the API, for a terminal."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated

import typer
from pydantic import ValidationError

from warroom.cli.base import ActorOpt, JsonOpt, emit, fail, session_scope
from warroom.incidents import command, editing, linking, postmortems, tasks, updates
from warroom.incidents import queries as incident_queries
from warroom.incidents import service as incidents
from warroom.incidents.models import Incident
from warroom.incidents.schemas import IncidentCreate, IncidentPatch
from warroom.incidents.views import incident_full, incident_out, timeline_out, update_out

incident_app = typer.Typer(help="Incidents.", no_args_is_help=True)


def _line(i: incidents.Incident) -> str:
    due = i.next_update_due_at.strftime("%H:%M") if i.next_update_due_at else "-"
    return f"{i.ref:<8} {i.state:<9} {i.priority} {i.severity:<6} {i.commander:<16} due {due:<5} {i.title}"


@incident_app.command("declare")
def declare(
    ctx: typer.Context,
    service: Annotated[list[str], typer.Option("--service", "-s", help="Service key (repeatable)")],
    priority: Annotated[str, typer.Option("--priority", "-p")],
    severity: Annotated[str, typer.Option("--severity")],
    title: Annotated[str | None, typer.Option()] = None,
    commander: Annotated[str | None, typer.Option()] = None,
    alert: Annotated[list[int] | None, typer.Option("--alert", help="Declare from this alert id (repeatable)")] = None,
    actor: ActorOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Declare an incident (from alerts with --alert: they are attached)."""
    try:
        data = IncidentCreate(
            title=title,
            services=service,
            priority=priority,  # type: ignore[arg-type]
            severity=severity,
            commander=commander,
            alerts=alert or None,
        )
    except ValidationError as exc:
        raise fail("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()), 2) from None
    if commander is None and actor is None:
        raise fail("an incident needs a commander: give --commander HANDLE or --as HANDLE (an active user)", 2)
    with session_scope(ctx) as (session, cmd):
        who = cmd.actor(session, actor)
        inc = incidents.declare(session, policy=cmd.policy, now=cmd.now(), actor=who, data=data)
        emit(incident_out(inc).model_dump(mode="json"), as_json, _line(inc))


@incident_app.command("list")
def list_(
    ctx: typer.Context,
    state: Annotated[str | None, typer.Option()] = None,
    priority: Annotated[str | None, typer.Option()] = None,
    service: Annotated[str | None, typer.Option()] = None,
    page: int = 1,
    per_page: Annotated[int, typer.Option("--per-page")] = 50,
    as_json: JsonOpt = False,
) -> None:
    """List incidents, newest first."""
    with session_scope(ctx) as (session, cmd):
        rows, total = incident_queries.list_incidents(
            session, state=state, priority=priority, service=service, page=page, per_page=per_page
        )
        emit(
            {"items": [incident_out(i).model_dump(mode="json") for i in rows], "total": total},
            as_json,
            "\n".join(_line(i) for i in rows) or "no incidents",
        )


@incident_app.command("show")
def show(ctx: typer.Context, ref: str, as_json: JsonOpt = False) -> None:
    """Show one incident with its timeline."""
    with session_scope(ctx) as (session, cmd):
        inc = incidents.get(session, ref)
        out = incident_full(session, policy=cmd.policy, incident=inc)
        tl = [timeline_out(e) for e in incident_queries.timeline(session, incident_id=inc.id)]
        data = {**out.model_dump(mode="json"), "timeline": [t.model_dump(mode="json") for t in tl]}
        text = [
            _line(inc),
            f"services: {', '.join(out.services)}",
            f"allowed transitions: {', '.join(out.allowed_transitions) or 'none'}",
            "timeline:",
        ]
        text += [f"  {t.occurred_at:%Y-%m-%d %H:%M:%S} {t.actor}: {t.text}" for t in tl]
        emit(data, as_json, "\n".join(text))


@incident_app.command("update")
def update(
    ctx: typer.Context,
    ref: str,
    message: Annotated[str, typer.Option("--message", "-m")],
    actor: ActorOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Post a status update (restarts the cadence clock)."""
    with session_scope(ctx) as (session, cmd):
        inc = incidents.get(session, ref, for_update=True)
        upd = updates.post_update(
            session,
            policy=cmd.policy,
            now=cmd.now(),
            actor=cmd.actor(session, actor),
            incident=inc,
            message=message,
        )
        emit(update_out(upd).model_dump(mode="json"), as_json, f"update posted; next due {inc.next_update_due_at}")


@incident_app.command("note")
def note(
    ctx: typer.Context,
    ref: str,
    text: Annotated[str, typer.Option("--text", "-t")],
    at: Annotated[datetime | None, typer.Option("--at", help="When it happened (ISO 8601, UTC)")] = None,
    actor: ActorOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Add a timeline note, optionally back-dated."""
    from warroom.core.clock import as_utc

    with session_scope(ctx) as (session, cmd):
        inc = incidents.get(session, ref, for_update=True)
        entry = updates.add_note(
            session,
            now=cmd.now(),
            actor=cmd.actor(session, actor),
            incident=inc,
            text=text,
            occurred_at=as_utc(at) if at else None,
        )
        emit(timeline_out(entry).model_dump(mode="json"), as_json, f"note {entry.id} added")


@incident_app.command("transition")
def transition(
    ctx: typer.Context,
    ref: str,
    to: str,
    reason: Annotated[str | None, typer.Option()] = None,
    actor: ActorOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Move an incident to active, stable, resolved or completed."""
    with session_scope(ctx) as (session, cmd):
        inc = incidents.get(session, ref, for_update=True)
        incidents.transition(
            session,
            policy=cmd.policy,
            now=cmd.now(),
            actor=cmd.actor(session, actor),
            incident=inc,
            to=to,
            reason=reason,
            hooks=cmd.hooks,
        )
        emit(incident_out(inc).model_dump(mode="json"), as_json, _line(inc))


@incident_app.command("ack")
def ack(ctx: typer.Context, ref: str, actor: ActorOpt = None, as_json: JsonOpt = False) -> None:
    """Acknowledge an incident: escalation stops and the pager (PagerDuty) is told."""
    with session_scope(ctx) as (session, cmd):
        inc = incidents.get(session, ref, for_update=True)
        done = incidents.acknowledge(
            session, policy=cmd.policy, now=cmd.now(), actor=cmd.actor(session, actor), incident=inc
        )
        emit(
            incident_out(inc).model_dump(mode="json"),
            as_json,
            f"{inc.ref} acknowledged" if done else f"{inc.ref} was already acknowledged",
        )


@incident_app.command("hand-over")
def hand_over(
    ctx: typer.Context,
    ref: str,
    to: Annotated[str, typer.Argument(help="Handle of the new commander (an active user who may command)")],
    reason: Annotated[str | None, typer.Option()] = None,
    actor: ActorOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Hand over command of an incident (on the timeline, notified)."""
    with session_scope(ctx) as (session, cmd):
        inc = incidents.get(session, ref, for_update=True)
        command.hand_over(
            session,
            policy=cmd.policy,
            now=cmd.now(),
            actor=cmd.actor(session, actor),
            incident=inc,
            to=to,
            reason=reason,
        )
        emit(incident_out(inc).model_dump(mode="json"), as_json, f"{inc.ref} is now commanded by {inc.commander}")


@incident_app.command("attach")
def attach(
    ctx: typer.Context,
    ref: str,
    alert_ids: Annotated[list[int], typer.Argument(help="Alert ids (one in another incident is moved here)")],
    actor: ActorOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Attach alerts to an incident, or move them here from another one."""
    with session_scope(ctx) as (session, cmd):
        inc = incidents.get(session, ref, for_update=True)
        moved = linking.attach(
            session, now=cmd.now(), actor=cmd.actor(session, actor), incident=inc, alert_ids=alert_ids
        )
        out = incident_full(session, policy=cmd.policy, incident=inc)
        emit(
            out.model_dump(mode="json"),
            as_json,
            f"{len(moved)} alert(s) attached to {inc.ref} ({out.alerts_total} in all)",
        )


@incident_app.command("detach")
def detach(ctx: typer.Context, ref: str, alert_id: int, actor: ActorOpt = None, as_json: JsonOpt = False) -> None:
    """Detach an alert from an incident."""
    with session_scope(ctx) as (session, cmd):
        inc = incidents.get(session, ref, for_update=True)
        linking.detach(session, now=cmd.now(), actor=cmd.actor(session, actor), incident=inc, alert_id=alert_id)
        out = incident_full(session, policy=cmd.policy, incident=inc)
        emit(
            out.model_dump(mode="json"), as_json, f"alert {alert_id} detached from {inc.ref} ({out.alerts_total} left)"
        )


@incident_app.command("edit")
def edit(
    ctx: typer.Context,
    ref: str,
    set_: Annotated[list[str], typer.Option("--set", help="field=value (repeatable)")],
    actor: ActorOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Edit fields, e.g. --set severity=SEV-2 --set users_impacted=1200."""
    values: dict[str, object] = {}
    for item in set_:
        key, sep, value = item.partition("=")
        if not sep:
            raise fail(f"--set needs field=value, got {item!r}", 2)
        values[key.strip()] = [v for v in value.split(",") if v] if key in ("services", "monitors", "teams") else value
    try:
        data = IncidentPatch.model_validate(values)
    except ValidationError as exc:
        raise fail("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()), 2) from None
    with session_scope(ctx) as (session, cmd):
        inc = incidents.get(session, ref, for_update=True)
        editing.patch(
            session,
            policy=cmd.policy,
            now=cmd.now(),
            actor=cmd.actor(session, actor),
            incident=inc,
            data=data,
        )
        emit(incident_out(inc).model_dump(mode="json"), as_json, _line(inc))


@incident_app.command("postmortem")
def postmortem(
    ctx: typer.Context,
    ref: str,
    generate: Annotated[bool, typer.Option("--generate", help="Generate a new version now")] = False,
    force: Annotated[bool, typer.Option("--force", help="Generate over a human edit (kept as a version)")] = False,
    output: Annotated[str | None, typer.Option("--output", "-o", help="Write the Markdown to a file")] = None,
    actor: ActorOpt = None,
) -> None:
    """Print (or generate) the postmortem Markdown."""
    with session_scope(ctx) as (session, cmd):
        inc = incidents.get(session, ref, for_update=generate)
        if generate:
            postmortems.generate(
                session,
                policy=cmd.policy,
                now=cmd.now(),
                actor=cmd.actor(session, actor),
                incident=inc,
                force=force,
                hooks=cmd.hooks,
            )
        row = postmortems.require_current(session, incident=inc)
        if output:
            with open(output, "w", encoding="utf-8") as fh:
                fh.write(row.markdown)
            typer.echo(f"wrote version {row.version} to {output}")
        else:
            typer.echo(row.markdown)


task_app = typer.Typer(help="An incident's pending tasks (follow-ups).", no_args_is_help=True)
incident_app.add_typer(task_app, name="task")


def _tasks_text(inc: incidents.Incident) -> str:
    rows = tasks.listed(inc)
    lines = [
        f"{t['number']:>3}. [{'x' if t['done'] else ' '}] {t['title']}{' ' + t['url'] if t['url'] else ''}"
        for t in rows
    ]
    return "\n".join(lines) or f"{inc.ref} has no pending tasks"


def _task_change(
    ctx: typer.Context, ref: str, actor: str | None, as_json: bool, change: Callable[[Incident], IncidentPatch]
) -> None:
    """Apply one change (a function of the incident giving its patch) under the incident's lock."""
    with session_scope(ctx) as (session, cmd):
        inc = incidents.get(session, ref, for_update=True)
        try:
            patch = change(inc)
        except ValidationError as exc:
            raise fail("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()), 2) from None
        editing.patch(
            session, policy=cmd.policy, now=cmd.now(), actor=cmd.actor(session, actor), incident=inc, data=patch
        )
        emit({"incident": inc.ref, "tasks": tasks.listed(inc)}, as_json, _tasks_text(inc))


@task_app.command("list")
def task_list(ctx: typer.Context, ref: str, as_json: JsonOpt = False) -> None:
    """The incident's pending tasks, numbered as the other task commands take them."""
    with session_scope(ctx) as (session, cmd):
        inc = incidents.get(session, ref)
        emit({"incident": inc.ref, "tasks": tasks.listed(inc)}, as_json, _tasks_text(inc))


@task_app.command("add")
def task_add(
    ctx: typer.Context,
    ref: str,
    title: Annotated[str, typer.Argument(help="What has to be done")],
    url: Annotated[str | None, typer.Option(help="A link (http or https), e.g. the ticket")] = None,
    actor: ActorOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Add a pending task."""
    _task_change(ctx, ref, actor, as_json, lambda inc: tasks.added(inc, title=title, url=url))


@task_app.command("done")
def task_done(
    ctx: typer.Context,
    ref: str,
    number: Annotated[int, typer.Argument(help="The task's number in `task list`")],
    undo: Annotated[bool, typer.Option("--undo", help="Mark it not done")] = False,
    actor: ActorOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Mark a pending task done (or --undo)."""
    _task_change(ctx, ref, actor, as_json, lambda inc: tasks.ticked(inc, number=number, done=not undo))


@task_app.command("remove")
def task_remove(
    ctx: typer.Context,
    ref: str,
    number: Annotated[int, typer.Argument(help="The task's number in `task list`")],
    actor: ActorOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Remove a pending task."""
    _task_change(ctx, ref, actor, as_json, lambda inc: tasks.removed(inc, number=number))
