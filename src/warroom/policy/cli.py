"""`warroom policy check|show`: validate a policy file, print the one in force."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from warroom.cli.base import JsonOpt, fail, get_settings, load
from warroom.policy import PolicyError, load_policy, rules

policy_app = typer.Typer(help="The policy file.", no_args_is_help=True)


@policy_app.command("check")
def policy_check(
    file: Annotated[Path | None, typer.Argument(help="Policy YAML; default: WARROOM_POLICY or the bundled one")] = None,
    strict: Annotated[bool, typer.Option("--strict", help="Exit 1 when there are warnings")] = False,
) -> None:
    """Validate a policy file; exits non-zero with the bad key's path. Warns (on stderr, exit 0) about
    settings that are valid but silently turn a rule off; --strict makes those fail too."""
    try:
        policy = load_policy(file if file else get_settings().policy)
    except PolicyError as exc:
        raise fail(str(exc), 2) from None
    found = rules.warnings(policy)
    for warning in found:
        typer.echo(f"warning: {warning}", err=True)
    typer.echo(
        f"ok: policy for team '{policy.team}': {len(policy.services)} services, "
        f"{len(policy.severities)} severities, {len(policy.channels)} channels"
        + (f"; {len(found)} warning(s)" if found else "")
    )
    if found and strict:
        raise typer.Exit(1)


@policy_app.command("show")
def policy_show(as_json: JsonOpt = False) -> None:
    """Print the policy in force (secrets masked)."""
    import yaml

    data = load(get_settings()).public_dict()
    typer.echo(json.dumps(data, indent=2) if as_json else yaml.safe_dump(data, sort_keys=False))
