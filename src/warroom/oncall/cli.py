"""`warroom oncall ...`: who is on call, a schedule's shifts, overrides, refreshing external calendars."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

import typer

from warroom.cli.base import ActorOpt, JsonOpt, emit, fail, session_scope
from warroom.core.errors import NotFound
from warroom.core.settings import get_settings
from warroom.oncall import refresh
from warroom.oncall import service as oncall
from warroom.oncall.schemas import OnCallOut, OverrideOut, ShiftOut

oncall_app = typer.Typer(help="Who is on call: schedules, overrides.", invoke_without_command=True)
override_app = typer.Typer(help="Overrides: someone covers a schedule for a while.", no_args_is_help=True)
oncall_app.add_typer(override_app, name="override")

AtOpt = Annotated[str | None, typer.Option("--at", help="ISO 8601 instant (default now; no offset = UTC)")]
ScheduleOpt = Annotated[str | None, typer.Option("--schedule", "-s", help="Only this schedule")]


def _instant(value: str, what: str) -> datetime:
    try:
        return datetime.fromisoformat(value.strip())
    except ValueError:
        raise fail(f"{what}: expected an ISO 8601 time like 2026-12-24T18:00 or 2026-12-24T18:00+01:00", 2) from None


def _local(value: datetime | None, tz: str) -> str:
    return value.astimezone(ZoneInfo(tz)).strftime("%a %Y-%m-%d %H:%M %Z") if value else "(beyond what is known)"


def _line(o: OnCallOut) -> str:
    person = o.user or (f"{o.who} (no warroom user)" if o.who else "nobody")
    text = f"{o.schedule:<20} {person:<16} until {_local(o.until, o.timezone)}"
    if o.next:
        text += f"; next {o.next.user or o.next.who} from {_local(o.next.start, o.timezone)}"
    if o.via == "override":
        text += " [override]"
    if o.source_error:
        text += f"\n  ! {o.kind}: {o.source_error}" + (
            f" (answer of {o.fetched_at:%Y-%m-%d %H:%M} UTC)" if o.fetched_at else ""
        )
    return text


@oncall_app.callback()
def who_is_on_call(
    ctx: typer.Context, at: AtOpt = None, schedule: ScheduleOpt = None, as_json: JsonOpt = False
) -> None:
    """Who is on call for every schedule (or one), until when, and who is next."""
    if ctx.invoked_subcommand is not None:
        return
    with session_scope(ctx) as (session, cmd):
        when = _instant(at, "--at") if at else cmd.now()
        names = [schedule] if schedule else list(cmd.policy.schedules)
        people = oncall.People(session)
        outs = []
        for name in names:
            spec = oncall.require_schedule(cmd.policy, name)
            answer = oncall.who(session, cmd.policy, schedule=name, at=when, people=people)
            outs.append(OnCallOut.of(answer, name=spec.name, kind=spec.kind, timezone=spec.timezone))
        text = "\n".join(_line(o) for o in outs) or "no schedules in the policy (see docs/oncall.md)"
        emit([o.model_dump(mode="json") for o in outs], as_json, text)


@oncall_app.command("shifts")
def shifts(
    ctx: typer.Context,
    schedule: str,
    start: Annotated[str | None, typer.Option("--start", help="ISO 8601 (default now)")] = None,
    days: Annotated[int, typer.Option("--days", min=1, max=400)] = 14,
    as_json: JsonOpt = False,
) -> None:
    """A schedule's shifts and gaps, in its time zone."""
    with session_scope(ctx) as (session, cmd):
        spec = oncall.require_schedule(cmd.policy, schedule)
        first = _instant(start, "--start") if start else cmd.now()
        first = oncall.check_instant(first, "start")
        found = oncall.timeline(session, cmd.policy, schedule=schedule, start=first, end=first + timedelta(days=days))
        outs = [ShiftOut.of(s) for s in found]
        lines = [
            f"{_local(o.start, spec.timezone)} - {_local(o.end, spec.timezone)}  "
            + (o.user or o.who or ("not known" if o.via == "unknown" else "GAP: nobody on call"))
            + (f" [{o.via}]" if o.who else "")
            for o in outs
        ]
        emit([o.model_dump(mode="json") for o in outs], as_json, "\n".join(lines))


def _override_line(o: OverrideOut) -> str:
    note = f" ({o.note})" if o.note else ""
    when = f"{o.local_start:%Y-%m-%d %H:%M} - {o.local_end:%Y-%m-%d %H:%M} {o.timezone}"
    return f"#{o.id:<5} {o.schedule:<20} {o.user:<16} {when}{note}"


@override_app.command("add")
def override_add(
    ctx: typer.Context,
    schedule: str,
    user: Annotated[str, typer.Argument(help="Handle of who covers")],
    start: Annotated[str, typer.Option("--start", help="e.g. 2026-12-24T18:00 (local to --tz)")],
    end: Annotated[str, typer.Option("--end", help="e.g. 2026-12-26T09:00")],
    tz: Annotated[str | None, typer.Option("--tz", help="IANA time zone (default: the schedule's)")] = None,
    note: Annotated[str, typer.Option("--note")] = "",
    actor: ActorOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """USER covers SCHEDULE from --start to --end (refused if it overlaps another override)."""
    first, last = _instant(start, "--start"), _instant(end, "--end")
    with session_scope(ctx) as (session, cmd):
        row = oncall.add_override(
            session,
            cmd.policy,
            now=cmd.now(),
            actor=cmd.actor(session, actor),
            schedule=schedule,
            user=user,
            start=first,
            end=last,
            timezone=tz,
            note=note,
        )
        out = OverrideOut(**oncall.override_view(row, user.strip().lower()))
        emit(out.model_dump(mode="json"), as_json, _override_line(out))


@override_app.command("list")
def override_list(
    ctx: typer.Context,
    schedule: ScheduleOpt = None,
    past: Annotated[bool, typer.Option("--past", help="Include overrides that are over")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Overrides by start (those not over yet, unless --past)."""
    with session_scope(ctx) as (session, cmd):
        rows = oncall.list_overrides(session, schedule=schedule, ending_after=None if past else cmd.now())
        outs = [OverrideOut(**oncall.override_view(r, h)) for r, h in rows]
        emit([o.model_dump(mode="json") for o in outs], as_json, "\n".join(map(_override_line, outs)) or "no overrides")


@override_app.command("remove")
def override_remove(ctx: typer.Context, override_id: int, actor: ActorOpt = None) -> None:
    """Delete override ID (the schedule applies again)."""
    with session_scope(ctx) as (session, cmd):
        cmd.actor(session, actor)
        oncall.remove_override(session, override_id=override_id)
        typer.echo(f"override #{override_id} removed")


@oncall_app.command("refresh")
def refresh_now(ctx: typer.Context, schedule: ScheduleOpt = None, as_json: JsonOpt = False) -> None:
    """Fetch external schedules (iCal, PagerDuty) now; exits 1 if one failed (its last answer is kept)."""
    from warroom.cli.base import current_app, load
    from warroom.core.db import make_engine, session_factory

    settings = get_settings()
    policy = load(settings)
    if schedule:
        try:
            oncall.require_schedule(policy, schedule)
        except NotFound as exc:
            raise fail(exc.message) from None
    engine = make_engine(settings.database_url)
    try:
        done = refresh.refresh(
            session_factory(engine), policy, settings, current_app(ctx).clock, force=True, only=schedule
        )
    finally:
        engine.dispose()
    lines = [f"{o.schedule}: " + (f"ok, {o.shifts} shifts" if o.ok else f"failed: {o.error}") for o in done]
    emit([o.__dict__ for o in done], as_json, "\n".join(lines) or "no external schedules in the policy")
    if any(not o.ok for o in done):
        raise typer.Exit(1)
