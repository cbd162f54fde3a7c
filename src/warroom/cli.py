"""The `warroom` command: serve, worker, and every operation for a terminal or a script."""

from __future__ import annotations

import getpass
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from warroom import runtime
from warroom.clock import SystemClock
from warroom.db import make_engine, session_factory, unit_of_work
from warroom.errors import WarroomError
from warroom.policy import Policy, PolicyError, load_policy
from warroom.settings import Settings, get_settings, writer_process_wanted

app = typer.Typer(
    help="warroom: incident response for small SRE and platform teams.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
policy_app = typer.Typer(help="The policy file.", no_args_is_help=True)
user_app = typer.Typer(help="Users.", no_args_is_help=True)
token_app = typer.Typer(help="API and ingest tokens.", no_args_is_help=True)
incident_app = typer.Typer(help="Incidents.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(policy_app, name="policy")
app.add_typer(user_app, name="user")
app.add_typer(token_app, name="token")
app.add_typer(incident_app, name="incident")

JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable JSON output.")]
CLI_ACTOR = "cli"


def fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def _policy(settings: Settings) -> Policy:
    try:
        return load_policy(settings.policy)
    except PolicyError as exc:
        raise fail(str(exc), 2) from None


@contextmanager
def session_scope() -> Iterator[tuple[Session, Settings]]:
    """One transaction per command; domain errors become a clean message and exit 1."""
    settings = get_settings()
    engine = make_engine(settings.database_url)
    try:
        with unit_of_work(session_factory(engine)) as session:
            yield session, settings
            _audit_cli(session)
    except WarroomError as exc:
        detail = f" ({json.dumps(exc.details, default=str)})" if exc.details else ""
        raise fail(f"{exc.message}{detail}") from None
    except DBAPIError as exc:
        raise fail(_database_problem(engine, exc)) from None
    finally:
        engine.dispose()


def _database_problem(engine: Engine, exc: DBAPIError) -> str:
    """A schema that was never migrated, or a server that is down, in words (no traceback)."""
    from warroom import migrate, outage

    where = engine.url.render_as_string(hide_password=True)
    try:
        have, missing = migrate.current_heads(engine), migrate.pending(engine)
    except DBAPIError as again:
        return f"cannot reach the database {where}: {outage.one_line(again)}"
    if missing:
        state = f"is behind (missing {', '.join(missing)})" if have else "has no warroom schema yet"
        return f"the database {where} {state}: run `warroom db upgrade` first"
    return f"database error on {where}: {outage.one_line(exc)}"


def _audit_cli(session: Session) -> None:
    """Changes made from a terminal are audited like API changes (command path only: no secrets)."""
    import click

    from warroom.audit import service as audit

    if not (session.new or session.dirty or session.deleted):
        return
    ctx = click.get_current_context(silent=True)
    action = ctx.command_path if ctx else "warroom"
    audit.record(session, now=SystemClock().now(), actor=getpass.getuser(), via="cli", action=action)


def emit(data: Any, as_json: bool, text: str) -> None:
    if as_json:
        typer.echo(json.dumps(data, indent=2, default=str))
    else:
        typer.echo(text)


def _actor(session: Session, handle: str | None) -> str:
    from warroom.users import service as users

    if handle is None:
        return CLI_ACTOR
    return users.require(session, handle).handle


# ---- serve / worker / db / policy -------------------------------------------------------


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address")] = None,
    port: Annotated[int | None, typer.Option(help="Port")] = None,
    no_worker: Annotated[bool, typer.Option("--no-worker", help="API only; run `warroom worker` separately")] = False,
    no_migrate: Annotated[bool, typer.Option("--no-migrate", help="Skip applying migrations")] = False,
) -> None:
    """Migrate, create the first admin if the database is empty, and serve HTTP."""
    import uvicorn

    from warroom import bootstrap, migrate
    from warroom.api.app import create_app
    from warroom.logs import setup_logging

    settings = get_settings()
    setup_logging(settings)
    policy = _policy(settings)
    if not no_migrate:
        migrate.upgrade(settings.database_url)
    host, port = host or settings.host, port or settings.port
    base = settings.base_url or f"http://{host}:{port}"
    with session_scope() as (session, _):
        first = bootstrap.ensure_admin(session, now=SystemClock().now())
    if first:
        typer.echo(bootstrap.first_run_message(first, base))
    application = create_app(
        settings, policy=policy, run_worker=not no_worker, ingest_process=writer_process_wanted(settings)
    )
    typer.echo(
        f"warroom serving on {base} (policy: {settings.policy or 'bundled reference'}, "
        f"database: {settings.database_url.split('@')[-1]})"
    )
    runtime.tune_gc()
    uvicorn.run(application, host=host, port=port, log_level=settings.log_level.lower(), access_log=False)


@app.command()
def worker(
    metrics_port: Annotated[
        int | None,
        typer.Option("--metrics-port", help="Serve this worker's Prometheus metrics (delivery latency) on this port"),
    ] = None,
    metrics_host: Annotated[str, typer.Option("--metrics-host", help="Bind address for --metrics-port")] = "127.0.0.1",
) -> None:
    """Run the background worker: notifications, reminders, escalations (many may run)."""
    from warroom.worker import run_forever

    settings = get_settings()
    policy = _policy(settings)
    if metrics_port is not None:
        from prometheus_client import start_http_server

        from warroom.metrics import REGISTRY

        start_http_server(metrics_port, addr=metrics_host, registry=REGISTRY)
        typer.echo(f"worker metrics on http://{metrics_host}:{metrics_port}/metrics")
    runtime.tune_gc()
    run_forever(settings, policy)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply all migrations (safe to run on every deploy; runs once per database)."""
    from warroom import migrate

    settings = get_settings()
    migrate.upgrade(settings.database_url)
    typer.echo("database is up to date")


@app.command("export")
def export_cmd(file: Annotated[Path, typer.Argument(help="Where to write the JSON dump ('-' for stdout)")]) -> None:
    """Dump every table as versioned JSON (a backup you can restore into SQLite or PostgreSQL)."""
    from warroom import backup, migrate

    settings = get_settings()
    engine = make_engine(settings.database_url)
    schema = sorted(migrate.current_heads(engine))

    def progress(table: str, n: int) -> None:
        typer.echo(f"  {table}: {n} rows", err=True)

    try:
        if str(file) == "-":
            counts = backup.export(engine, sys.stdout, schema=schema, progress=progress)
        else:
            with open(file, "w", encoding="utf-8") as out:
                counts = backup.export(engine, out, schema=schema, progress=progress)
    finally:
        engine.dispose()
    typer.echo(f"exported {sum(counts.values())} rows from {len(counts)} tables", err=True)


@app.command("import")
def import_cmd(file: Annotated[Path, typer.Argument(help="A file written by `warroom export`")]) -> None:
    """Restore a dump into an empty database (migrated first); refuses a database with data."""
    from warroom import backup, migrate

    settings = get_settings()
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise fail(f"cannot read {file}: {exc}") from None
    migrate.upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    try:
        counts = backup.restore(engine, data, progress=lambda t, n: typer.echo(f"  {t}: {n}", err=True))
    except backup.ImportError_ as exc:
        raise fail(str(exc)) from None
    finally:
        engine.dispose()
    typer.echo(f"imported {sum(counts.values())} rows into {len(counts)} tables")


@policy_app.command("check")
def policy_check(
    file: Annotated[Path | None, typer.Argument(help="Policy YAML; default: WARROOM_POLICY or the bundled one")] = None,
) -> None:
    """Validate a policy file; exits non-zero with the bad key's path."""
    try:
        policy = load_policy(file if file else get_settings().policy)
    except PolicyError as exc:
        raise fail(str(exc), 2) from None
    typer.echo(
        f"ok: policy for team '{policy.team}': {len(policy.services)} services, "
        f"{len(policy.severities)} severities, {len(policy.channels)} channels"
    )


@policy_app.command("show")
def policy_show(as_json: JsonOpt = False) -> None:
    """Print the policy in force (secrets masked)."""
    import yaml

    data = _policy(get_settings()).public_dict()
    typer.echo(json.dumps(data, indent=2) if as_json else yaml.safe_dump(data, sort_keys=False))


# ---- users and tokens ---------------------------------------------------------------


@user_app.command("add")
def user_add(
    handle: str,
    role: Annotated[str, typer.Option(help="viewer | responder | admin")] = "responder",
    name: Annotated[str, typer.Option()] = "",
    email: Annotated[str | None, typer.Option()] = None,
    slack_id: Annotated[str | None, typer.Option("--slack-id")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Add a user."""
    from warroom.users import service as users

    with session_scope() as (session, _):
        user = users.create_user(
            session, now=SystemClock().now(), handle=handle, role=role, name=name, email=email, slack_id=slack_id
        )
        emit({"handle": user.handle, "role": user.role}, as_json, f"added {user.handle} ({user.role})")


@user_app.command("list")
def user_list(as_json: JsonOpt = False) -> None:
    """List users."""
    from warroom.users.models import User

    with session_scope() as (session, _):
        rows = session.query(User).order_by(User.handle).all()
        data = [{"handle": u.handle, "role": u.role, "name": u.name, "active": u.active} for u in rows]
        emit(data, as_json, "\n".join(f"{u['handle']:<24} {u['role']:<10} {u['name']}" for u in data) or "no users")


@user_app.command("passwd")
def user_passwd(
    handle: str,
    password: Annotated[str | None, typer.Option(help="For scripts; otherwise prompts twice")] = None,
) -> None:
    """Set a user's web UI password."""
    from warroom.users import service as users

    if password is None:
        if not sys.stdin.isatty():
            password = sys.stdin.readline().rstrip("\n")
        else:
            password = getpass.getpass("New password: ")
            if getpass.getpass("Again: ") != password:
                raise fail("the passwords do not match")
    from warroom.users import sessions

    with session_scope() as (session, _):
        user = users.require(session, handle)
        users.set_password(user, password)
        sessions.end_all_for(session, user_id=user.id)  # every browser signs in again
    typer.echo(f"password set for {handle}")


@token_app.command("create")
def token_create(
    user: Annotated[str | None, typer.Option("--user", help="Handle the token acts as")] = None,
    ingest: Annotated[str | None, typer.Option("--ingest", help="Ingest-only token for this source name")] = None,
) -> None:
    """Create a token; the token itself is the last line printed, shown only once."""
    from warroom.users import service as users

    if bool(user) == bool(ingest):
        raise fail("give exactly one of --user HANDLE or --ingest NAME", 2)
    with session_scope() as (session, _):
        now = SystemClock().now()
        if user:
            row, plain = users.create_token(
                session, now=now, user=users.require(session, user), kind="user", name=f"cli:{user}"
            )
        else:
            row, plain = users.create_token(session, now=now, user=None, kind="ingest", name=ingest or "")
        typer.echo(f"token {row.id} ({row.kind}) created; store it now, it is not shown again:", err=True)
    typer.echo(plain)


@token_app.command("list")
def token_list(as_json: JsonOpt = False) -> None:
    """List tokens (never their secret)."""
    from warroom.users import service as users

    with session_scope() as (session, _):
        data = [
            {"id": t.id, "kind": t.kind, "name": t.name, "prefix": t.prefix, "revoked": t.revoked_at is not None}
            for t in users.list_tokens(session)
        ]
        emit(
            data,
            as_json,
            "\n".join(
                f"{t['id']:>4} {t['kind']:<7} {t['prefix']}… {t['name']}{' (revoked)' if t['revoked'] else ''}"
                for t in data
            )
            or "no tokens",
        )


@token_app.command("revoke")
def token_revoke(token_id: int) -> None:
    """Revoke a token at once."""
    from warroom.users import service as users

    with session_scope() as (session, _):
        users.revoke_token(session, now=SystemClock().now(), token_id=token_id)
    typer.echo(f"token {token_id} revoked")


def register_commands() -> None:
    """Import the modules whose commands join `app` (kept out of this module's import)."""
    from warroom import (
        cli_extra,  # noqa: F401  (commands of other domains)
        cli_incidents,  # noqa: F401  (registers the incident commands)
    )


def main() -> None:
    register_commands()
    try:
        app()
    except ValidationError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)
