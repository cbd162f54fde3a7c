"""What every command shares: its unit of work, output helpers, and the state the root command built."""

from __future__ import annotations

import getpass
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any

import typer
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from warroom.core.clock import Clock, SystemClock
from warroom.core.db import make_engine, session_factory
from warroom.core.errors import WarroomError
from warroom.core.hooks import Hooks
from warroom.core.settings import Settings, get_settings, in_force
from warroom.core.uow import UnitOfWork
from warroom.policy import Policy, PolicyError, load_policy
from warroom.policy.loader import read_policy
from warroom.registry import Registry

JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable JSON output.")]
ActorOpt = Annotated[str | None, typer.Option("--as", help="Act as this user handle")]
CLI_ACTOR = "cli"  # who a change is by when no --as is given


@dataclass
class CliApp:
    """Built once by `warroom.main.build_cli` from the wiring; every command reaches it through click's root context."""

    registry: Registry
    hooks: Hooks
    clock: Clock = field(default_factory=SystemClock)


def fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def emit(data: Any, as_json: bool, text: str) -> None:
    typer.echo(json.dumps(data, indent=2, default=str) if as_json else text)


def load(settings: Settings) -> Policy:
    """The policy in force, or a clean exit 2 naming the bad key."""
    try:
        return load_policy(settings.policy)
    except PolicyError as exc:
        raise fail(str(exc), 2) from None


def server_policy(session: Session, settings: Settings) -> Policy:
    """What a command computes with must be what the server runs (a reminder due in 30 minutes
    while the server runs a 3-minute cadence is worse than no answer). Without WARROOM_POLICY the
    command takes the file `serve` recorded; with it, or when that file has changed since, the
    texts must match or the command stops and says what differs. No record: the command's own."""
    from warroom.users import bootstrap

    recorded = bootstrap.recorded_policy(session)
    if recorded is None:
        return load(settings)
    wanted = settings.policy or recorded.path
    try:
        mine = read_policy(wanted)
    except PolicyError as exc:
        raise fail(
            f"the server runs {recorded.name} (recorded by {recorded.host} at {recorded.recorded_at}), "
            f"which this command cannot read ({'; '.join(exc.problems)}): set WARROOM_POLICY to a copy of it",
            2,
        ) from None
    if mine.sha256 != recorded.sha256:
        how = "WARROOM_POLICY names" if settings.policy else "that file now holds"
        raise fail(
            f"the server runs {recorded.name} (sha256 {recorded.sha256[:12]}, recorded by {recorded.host} at "
            f"{recorded.recorded_at}), but {how} {mine.name} (sha256 {mine.sha256[:12]}): set WARROOM_POLICY "
            "to the server's file, or restart the server with this one",
            2,
        )
    try:
        return mine.parse()
    except PolicyError as exc:
        raise fail(str(exc), 2) from None


def current_app(ctx: typer.Context) -> CliApp:
    """What the root command built (its callback puts it on the root context)."""
    found = ctx.find_root().obj
    if not isinstance(found, CliApp):
        raise RuntimeError("commands run under the root built by warroom.main.build_cli")
    return found


@dataclass
class Command:
    """One command's transaction and what it needs: settings, policy, hooks, clock, who acts."""

    settings: Settings
    app: CliApp
    uow: UnitOfWork
    _policy: Policy | None = None

    @property
    def policy(self) -> Policy:
        """The policy the server runs (as `serve` recorded it), or a clean exit 2 saying why not."""
        if self._policy is None:
            self._policy = in_force(server_policy(self.uow.session, self.settings), self.settings)
        return self._policy

    @property
    def hooks(self) -> Hooks:
        return self.app.hooks

    def now(self) -> datetime:
        return self.app.clock.now()

    def actor(self, session: Session, handle: str | None) -> str:
        """`--as HANDLE` (an existing user: the audit row says it too) or `cli`."""
        from warroom.users import service as users

        if handle is None:
            return CLI_ACTOR
        self.uow.actor = users.require(session, handle).handle
        return self.uow.actor


@contextmanager
def session_scope(ctx: typer.Context) -> Iterator[tuple[Session, Command]]:
    """One unit of work per command, audited as `cli` when it changed something; domain errors
    become a clean message and exit 1, database trouble a sentence, never a traceback."""
    settings = get_settings()
    app = current_app(ctx)
    engine = make_engine(settings.database_url)
    uow = UnitOfWork(
        session_factory(engine),
        clock=app.clock,
        channel="cli",
        actor=getpass.getuser(),
        action=ctx.command_path,
        audit="changes",
    )
    try:
        with uow as session:
            yield session, Command(settings=settings, app=app, uow=uow)
    except WarroomError as exc:
        detail = f" ({json.dumps(exc.details, default=str)})" if exc.details else ""
        raise fail(f"{exc.message}{detail}") from None
    except DBAPIError as exc:
        raise fail(database_problem(engine, exc)) from None
    finally:
        engine.dispose()


def database_problem(engine: Engine, exc: DBAPIError) -> str:
    """A schema that was never migrated, or a server that is down, in words (no traceback)."""
    from warroom import migrate
    from warroom.core import outage

    where = engine.url.render_as_string(hide_password=True)
    try:
        have, missing = migrate.current_heads(engine), migrate.pending(engine)
    except DBAPIError as again:
        return f"cannot reach the database {where}: {outage.one_line(again)}"
    if missing:
        state = f"is behind (missing {', '.join(missing)})" if have else "has no warroom schema yet"
        return f"the database {where} {state}: run `warroom db upgrade` first"
    return f"database error on {where}: {outage.one_line(exc)}"
