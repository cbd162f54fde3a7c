"""`warroom oob ...`: out-of-band deploy requests from a terminal (same rules as the API)."""

from __future__ import annotations

from typing import Annotated

import typer
from pydantic import ValidationError

from warroom.cli.base import ActorOpt, JsonOpt, emit, fail, session_scope
from warroom.deploys import service as oob
from warroom.deploys.models import OobRequest
from warroom.deploys.schemas import OobForm, OobOut
from warroom.incidents import service as incidents

oob_app = typer.Typer(help="Out-of-band deploy requests.", no_args_is_help=True)


def _line(o: OobOut) -> str:
    missing = f" missing: {', '.join(o.form_missing)}" if o.form_missing else ""
    todo = f" checklist: {', '.join(o.checklist_missing)}" if o.checklist_missing else ""
    return f"{o.id:<7} {o.incident:<8} {o.state:<10} {(o.description or '')[:60]}{missing}{todo}"


def _show(row: OobRequest, incident_ref: str, as_json: bool) -> None:
    out = oob.view(row)
    emit(out.model_dump(mode="json"), as_json, _line(out))


def _form(**values: object) -> OobForm:
    given = {k: v for k, v in values.items() if v is not None and v != []}
    try:
        return OobForm(**given)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise fail("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()), 2) from None


@oob_app.command("create")
def create(
    ctx: typer.Context,
    incident: Annotated[str, typer.Argument(help="Incident, e.g. INC-12")],
    pr: Annotated[list[str], typer.Option("--pr", help="Related PR URL (repeatable)")] = [],  # noqa: B006
    severity: Annotated[str | None, typer.Option(help="critical | high | moderate | low")] = None,
    users: Annotated[int | None, typer.Option(help="Active daily users impacted now")] = None,
    staging: Annotated[bool | None, typer.Option("--staging/--no-staging", help="Fix confirmed in staging?")] = None,
    not_confirmed_reason: Annotated[str | None, typer.Option(help="Why not confirmed in staging")] = None,
    description: Annotated[str | None, typer.Option(help="What the change is")] = None,
    reason: Annotated[str | None, typer.Option(help="Why it cannot wait")] = None,
    validation_steps: Annotated[str | None, typer.Option(help="How the fix is validated")] = None,
    validated_by: Annotated[str | None, typer.Option(help="Who validated the fix")] = None,
    after_cutoff: Annotated[bool, typer.Option("--confirm-after-cutoff")] = False,
    cannot_wait: Annotated[bool, typer.Option("--confirm-cannot-wait")] = False,
    postmortem: Annotated[
        bool, typer.Option("--confirm-postmortem", help="I will write a postmortem within two business days")
    ] = False,
    proxies: Annotated[bool, typer.Option("--proxies", help="The change touches proxies")] = False,
    security: Annotated[bool, typer.Option("--security", help="The change is security-related")] = False,
    request: Annotated[bool, typer.Option("--request", help="Send it to the platform team now")] = False,
    actor: ActorOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Open an OOB deploy request (a draft unless --request and the form is complete)."""
    form = _form(
        prs=pr,
        platform_severity=severity,
        active_daily_users=users,
        fix_confirmed_in_staging=staging,
        not_confirmed_reason=not_confirmed_reason,
        description=description,
        reason=reason,
        validation_steps=validation_steps,
        validated_by=validated_by,
        confirm_after_cutoff=after_cutoff or None,
        confirm_cannot_wait=cannot_wait or None,
        confirm_postmortem=postmortem or None,
        proxies_changed=proxies or None,
        security_related=security or None,
    )
    with session_scope(ctx) as (session, cmd):
        policy, now, who = cmd.policy, cmd.now(), cmd.actor(session, actor)
        inc = incidents.get(session, incident, for_update=True)
        row = oob.create(session, policy=policy, now=now, actor=who, incident=inc, form=form)
        if request:
            oob.transition(session, policy=policy, now=now, actor=who, incident=inc, row=row, to="requested")
        _show(row, inc.ref, as_json)


@oob_app.command("list")
def list_(ctx: typer.Context, incident: str, as_json: JsonOpt = False) -> None:
    """An incident's OOB requests."""
    with session_scope(ctx) as (session, cmd):
        inc = incidents.get(session, incident)
        outs = [oob.view(r) for r in oob.list_for_incident(session, incident_id=inc.id)]
        emit([o.model_dump(mode="json") for o in outs], as_json, "\n".join(_line(o) for o in outs) or "no OOB requests")


@oob_app.command("show")
def show(ctx: typer.Context, ref: str, as_json: JsonOpt = False) -> None:
    """One request with its form and checklist."""
    with session_scope(ctx) as (session, cmd):
        row = oob.get(session, incident=None, ref=ref)
        out = oob.view(row)
        lines = [_line(out)] + [
            f"  [{'x' if c.done else ' '}] {c.label}"
            + (f" ({c.by}, {c.at:%Y-%m-%d %H:%M})" if c.done and c.at else "")
            + ("" if c.required else " (not required)")
            for c in out.checklist
        ]
        emit(out.model_dump(mode="json"), as_json, "\n".join(lines))


_STATES_HELP = "requested | approved | deployed | verified | rejected | cancelled"
_ITEMS_HELP = "paging_incident | leadership_ack | channels_notified | infrastructure_ack | security_review"


@oob_app.command("move")
def move(
    ctx: typer.Context,
    ref: str,
    to: Annotated[str, typer.Argument(help=_STATES_HELP)],
    reason: Annotated[str | None, typer.Option()] = None,
    actor: ActorOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Move a request along draft -> requested -> approved -> deployed -> verified."""
    with session_scope(ctx) as (session, cmd):
        row = oob.get(session, incident=None, ref=ref, for_update=True)
        inc = incidents.get(session, row.incident_id, for_update=True)
        oob.transition(
            session,
            policy=cmd.policy,
            now=cmd.now(),
            actor=cmd.actor(session, actor),
            incident=inc,
            row=row,
            to=to,
            reason=reason,
        )
        _show(row, inc.ref, as_json)


@oob_app.command("check")
def check(
    ctx: typer.Context,
    ref: str,
    item: Annotated[str, typer.Argument(help=_ITEMS_HELP)],
    undo: Annotated[bool, typer.Option("--undo")] = False,
    note: Annotated[str | None, typer.Option()] = None,
    actor: ActorOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Tick (or --undo) a platform checklist item; who and when are recorded."""
    with session_scope(ctx) as (session, cmd):
        row = oob.get(session, incident=None, ref=ref, for_update=True)
        inc = incidents.get(session, row.incident_id, for_update=True)
        oob.tick(
            session,
            policy=cmd.policy,
            now=cmd.now(),
            actor=cmd.actor(session, actor),
            incident=inc,
            row=row,
            item=item,
            done=not undo,
            note=note,
        )
        _show(row, inc.ref, as_json)


@oob_app.command("postmortem-done")
def postmortem_done(
    ctx: typer.Context,
    ref: str,
    url: Annotated[str | None, typer.Option()] = None,
    actor: ActorOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Record that the OOB postmortem is written (stops the reminder)."""
    with session_scope(ctx) as (session, cmd):
        row = oob.get(session, incident=None, ref=ref, for_update=True)
        inc = incidents.get(session, row.incident_id, for_update=True)
        oob.postmortem_done(session, now=cmd.now(), actor=cmd.actor(session, actor), incident=inc, row=row, url=url)
        _show(row, inc.ref, as_json)


def _flag(name: str, help_text: str) -> object:
    return typer.Option(f"--{name}/--no-{name}", help=help_text)


@oob_app.command("edit")
def edit(
    ctx: typer.Context,
    ref: str,
    pr: Annotated[list[str], typer.Option("--pr", help="Related PR URL (repeatable; replaces the list)")] = [],  # noqa: B006
    severity: Annotated[str | None, typer.Option(help="critical | high | moderate | low")] = None,
    users: Annotated[int | None, typer.Option(help="Active daily users impacted now")] = None,
    staging: Annotated[bool | None, typer.Option("--staging/--no-staging", help="Fix confirmed in staging?")] = None,
    not_confirmed_reason: Annotated[str | None, typer.Option(help="Why not confirmed in staging")] = None,
    description: Annotated[str | None, typer.Option(help="What the change is")] = None,
    reason: Annotated[str | None, typer.Option(help="Why it cannot wait")] = None,
    validation_steps: Annotated[str | None, typer.Option(help="How the fix is validated")] = None,
    validated_by: Annotated[str | None, typer.Option(help="Who validated the fix")] = None,
    after_cutoff: Annotated[bool | None, _flag("confirm-after-cutoff", "After the regular cut-off")] = None,
    cannot_wait: Annotated[bool | None, _flag("confirm-cannot-wait", "It cannot wait for a regular deploy")] = None,
    postmortem: Annotated[bool | None, _flag("confirm-postmortem", "I will write a postmortem in time")] = None,
    proxies: Annotated[bool | None, _flag("proxies", "The change touches proxies")] = None,
    security: Annotated[bool | None, _flag("security", "The change is security-related")] = None,
    request: Annotated[bool, typer.Option("--request", help="Send it to the platform team now")] = False,
    actor: ActorOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Change a draft's form: only the options given (as PATCH does); --request sends it when complete."""
    form = _form(
        prs=pr,
        platform_severity=severity,
        active_daily_users=users,
        fix_confirmed_in_staging=staging,
        not_confirmed_reason=not_confirmed_reason,
        description=description,
        reason=reason,
        validation_steps=validation_steps,
        validated_by=validated_by,
        confirm_after_cutoff=after_cutoff,
        confirm_cannot_wait=cannot_wait,
        confirm_postmortem=postmortem,
        proxies_changed=proxies,
        security_related=security,
    )
    with session_scope(ctx) as (session, cmd):
        policy, now, who = cmd.policy, cmd.now(), cmd.actor(session, actor)
        row = oob.get(session, incident=None, ref=ref, for_update=True)
        inc = incidents.get(session, row.incident_id, for_update=True)
        oob.edit(session, now=now, actor=who, incident=inc, row=row, form=form)
        if request:
            oob.transition(session, policy=policy, now=now, actor=who, incident=inc, row=row, to="requested")
        _show(row, inc.ref, as_json)
