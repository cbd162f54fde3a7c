"""The `warroom` command: serve, worker, the database, backups, and every domain's commands (from the wiring)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from warroom import wiring
from warroom.cli.base import CliApp, current_app, fail, load, session_scope
from warroom.core import runtime
from warroom.core.clock import Clock, SystemClock
from warroom.core.db import make_engine
from warroom.core.settings import Settings, get_settings, proxy_list, writer_process_wanted
from warroom.policy import PolicyError
from warroom.policy.loader import PolicySource, read_policy
from warroom.registry import Registry

db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
root = typer.Typer()  # the process commands; build_cli adds them and every domain's to a fresh root


@root.command()
def serve(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option(help="Bind address")] = None,
    port: Annotated[int | None, typer.Option(help="Port")] = None,
    no_worker: Annotated[bool, typer.Option("--no-worker", help="API only; run `warroom worker` separately")] = False,
    no_migrate: Annotated[bool, typer.Option("--no-migrate", help="Skip applying migrations")] = False,
) -> None:
    """Migrate, create the first admin if the database is empty, and serve HTTP."""
    import uvicorn

    from warroom import migrate
    from warroom.app import create_app
    from warroom.core.logs import setup_logging
    from warroom.users import bootstrap

    settings = get_settings()
    setup_logging(settings)
    source = policy_source(settings)  # recorded below: the CLI computes with the same text
    try:
        policy = source.parse()
    except PolicyError as exc:
        raise fail(str(exc), 2) from None
    registry = current_app(ctx).registry
    if not no_migrate:
        migrate.upgrade(settings.database_url)  # nodes starting together take turns (a lock)
    else:
        migrate.wait_for_schema(settings.database_url)
    host, port = host or settings.host, port or settings.port
    base = settings.base_url or f"http://{host}:{port}"
    with session_scope(ctx) as (session, cmd):
        first = bootstrap.ensure_admin(session, now=cmd.now())
        replaced = bootstrap.record_policy(session, path=source.path, sha256=source.sha256, now=cmd.now())
    if first:
        typer.echo(bootstrap.first_run_message(first, base))
    if replaced:
        typer.echo(f"policy in force: {source.name} (was {replaced.name}, recorded by {replaced.host})", err=True)
    application = create_app(
        settings,
        policy=policy,
        run_worker=not no_worker,
        ingest_process=writer_process_wanted(settings),
        registry=registry,
    )
    typer.echo(
        f"warroom serving on {base} (policy: {settings.policy or 'bundled reference'}, "
        f"database: {settings.database_url.split('@')[-1]})"
    )
    runtime.tune_gc()
    uvicorn.run(application, host=host, port=port, **uvicorn_options(settings))


def policy_source(settings: Settings) -> PolicySource:
    """The text `serve` runs, to record (the same file `load` parsed; exit 2 if it went away)."""
    try:
        return read_policy(settings.policy)
    except PolicyError as exc:
        raise fail(str(exc), 2) from None


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """Forwarded headers only from WARROOM_TRUSTED_PROXIES: uvicorn's default believes any
    X-Forwarded-For from 127.0.0.1, so behind a proxy that passes the client's header on, anyone
    chose their own address (and escaped the per-address sign-in limit)."""
    proxies = proxy_list(settings.trusted_proxies)
    return {
        "log_level": settings.log_level.lower(),
        "access_log": False,
        "proxy_headers": bool(proxies),
        "forwarded_allow_ips": proxies or None,
    }


@root.command()
def worker(
    ctx: typer.Context,
    metrics_port: Annotated[
        int | None,
        typer.Option("--metrics-port", help="Serve this worker's Prometheus metrics (delivery latency) on this port"),
    ] = None,
    metrics_host: Annotated[str, typer.Option("--metrics-host", help="Bind address for --metrics-port")] = "127.0.0.1",
) -> None:
    """Run the background worker: notifications, reminders, escalations (many may run)."""
    from warroom.worker import run_forever

    settings = get_settings()
    policy = load(settings)
    registry = current_app(ctx).registry
    if metrics_port is not None:
        from prometheus_client import start_http_server

        from warroom.core.metrics import REGISTRY

        start_http_server(metrics_port, addr=metrics_host, registry=REGISTRY)
        typer.echo(f"worker metrics on http://{metrics_host}:{metrics_port}/metrics")
    runtime.tune_gc()
    run_forever(settings, policy, registry)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply all migrations (safe to run on every deploy; runs once per database)."""
    from warroom import migrate

    settings = get_settings()
    migrate.upgrade(settings.database_url)
    typer.echo("database is up to date")


@root.command("export")
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
            with backup.private_text(file) as out:
                counts = backup.export(engine, out, schema=schema, progress=progress)
    finally:
        engine.dispose()
    typer.echo(f"exported {sum(counts.values())} rows from {len(counts)} tables", err=True)


@root.command("import")
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


def build_cli(registry: Registry, clock: Clock | None = None) -> typer.Typer:
    """The whole command line: the process commands, then each domain's, as the wiring lists them
    (`clock`: the system's, or a test's fake one)."""
    app = typer.Typer(
        help="warroom: incident response for small SRE and platform teams.",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
    )
    state = CliApp(hooks=registry.hooks(), registry=registry, clock=clock or SystemClock())
    state.hooks.setup_process()

    @app.callback()
    def _root(ctx: typer.Context) -> None:
        ctx.obj = state

    app.add_typer(root)
    app.add_typer(db_app, name="db")
    for sub, name in registry.cli:
        app.add_typer(sub, name=name)
    return app


def main() -> None:
    app = build_cli(wiring.build_registry())
    try:
        app(prog_name="warroom")
    except ValidationError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)
