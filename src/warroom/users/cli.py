"""`warroom user ...` and `warroom token ...`: people and the tokens that act as them."""

from __future__ import annotations

import getpass
import sys
from typing import Annotated

import typer

from warroom.cli.base import JsonOpt, emit, fail, session_scope
from warroom.users import service as users
from warroom.users import sessions
from warroom.users.models import User

user_app = typer.Typer(help="Users.", no_args_is_help=True)
token_app = typer.Typer(help="API and ingest tokens.", no_args_is_help=True)


@user_app.command("add")
def user_add(
    ctx: typer.Context,
    handle: str,
    role: Annotated[str, typer.Option(help="viewer | responder | admin")] = "responder",
    name: Annotated[str, typer.Option()] = "",
    email: Annotated[str | None, typer.Option()] = None,
    slack_id: Annotated[str | None, typer.Option("--slack-id")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Add a user."""
    with session_scope(ctx) as (session, cmd):
        user = users.create_user(
            session, now=cmd.now(), handle=handle, role=role, name=name, email=email, slack_id=slack_id
        )
        emit({"handle": user.handle, "role": user.role}, as_json, f"added {user.handle} ({user.role})")


@user_app.command("list")
def user_list(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """List users."""
    with session_scope(ctx) as (session, cmd):
        rows = session.query(User).order_by(User.handle).all()
        data = [{"handle": u.handle, "role": u.role, "name": u.name, "active": u.active} for u in rows]
        emit(data, as_json, "\n".join(f"{u['handle']:<24} {u['role']:<10} {u['name']}" for u in data) or "no users")


@user_app.command("deactivate")
def user_deactivate(
    ctx: typer.Context,
    handle: str,
    new_commander: Annotated[
        str | None, typer.Option("--new-commander", help="Takes over the incidents this person commands")
    ] = None,
) -> None:
    """Deactivate a user (no sign-in, no tokens, no pings); a commander needs --new-commander."""
    with session_scope(ctx) as (session, cmd):
        user = users.require(session, handle)
        users.set_active(
            session,
            user=user,
            active=False,
            hooks=cmd.hooks,
            policy=cmd.policy,
            actor=cmd.actor(session, None),
            now=cmd.now(),
            replacement=new_commander,
        )
    typer.echo(f"{handle} deactivated" + (f"; {new_commander} took over their incidents" if new_commander else ""))


@user_app.command("passwd")
def user_passwd(
    ctx: typer.Context,
    handle: str,
    password: Annotated[str | None, typer.Option(help="For scripts; otherwise prompts twice")] = None,
) -> None:
    """Set a user's web UI password."""
    if password is None:
        if not sys.stdin.isatty():
            password = sys.stdin.readline().rstrip("\n")
        else:
            password = getpass.getpass("New password: ")
            if getpass.getpass("Again: ") != password:
                raise fail("the passwords do not match")
    with session_scope(ctx) as (session, cmd):
        user = users.require(session, handle)
        users.set_password(user, password)
        sessions.end_all_for(session, user_id=user.id)  # every browser signs in again
    typer.echo(f"password set for {handle}")


@token_app.command("create")
def token_create(
    ctx: typer.Context,
    user: Annotated[str | None, typer.Option("--user", help="Handle the token acts as")] = None,
    ingest: Annotated[str | None, typer.Option("--ingest", help="Ingest-only token for this source name")] = None,
) -> None:
    """Create a token; the token itself is the last line printed, shown only once."""
    if bool(user) == bool(ingest):
        raise fail("give exactly one of --user HANDLE or --ingest NAME", 2)
    with session_scope(ctx) as (session, cmd):
        now = cmd.now()
        if user:
            row, plain = users.create_token(
                session, now=now, user=users.require(session, user), kind="user", name=f"cli:{user}"
            )
        else:
            row, plain = users.create_token(session, now=now, user=None, kind="ingest", name=ingest or "")
        typer.echo(f"token {row.id} ({row.kind}) created; store it now, it is not shown again:", err=True)
    typer.echo(plain)


@token_app.command("list")
def token_list(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """List tokens (never their secret), with when each was last used: revoke the stale ones."""
    with session_scope(ctx) as (session, cmd):
        data = [
            {
                "id": t.id,
                "kind": t.kind,
                "name": t.name,
                "prefix": t.prefix,
                "created_at": t.created_at.isoformat(),
                "last_used_at": t.last_used_at.isoformat() if t.last_used_at else None,
                "revoked": t.revoked_at is not None,
            }
            for t in users.list_tokens(session)
        ]
        lines = [f"{'id':>4} {'kind':<7} {'prefix':<9} {'last used':<17} name"]
        for t in data:
            used = str(t["last_used_at"] or "never")[:16].replace("T", " ")
            gone = " (revoked)" if t["revoked"] else ""
            lines.append(f"{t['id']:>4} {t['kind']:<7} {t['prefix']:<9} {used:<17} {t['name']}{gone}")
        emit(data, as_json, "\n".join(lines) if data else "no tokens")


@token_app.command("revoke")
def token_revoke(ctx: typer.Context, token_id: int) -> None:
    """Revoke a token at once."""
    with session_scope(ctx) as (session, cmd):
        users.revoke_token(session, now=cmd.now(), token_id=token_id)
    typer.echo(f"token {token_id} revoked")
