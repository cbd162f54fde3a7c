"""`warroom slack manifest`: the app manifest to create the Slack app from."""

from __future__ import annotations

import json
from typing import Annotated

import typer
import yaml

from warroom.cli.base import load
from warroom.core.settings import get_settings
from warroom.notifications.blocks import safe_url
from warroom.slack.manifest import manifest

slack_app = typer.Typer(help="Slack as an entry point: the app manifest.", no_args_is_help=True)


@slack_app.command("manifest")
def manifest_command(
    url: Annotated[str, typer.Option("--url", help="The address Slack reaches warroom at (https://...)")],
    as_json: Annotated[bool, typer.Option("--json", help="JSON instead of YAML")] = False,
) -> None:
    """Print the Slack app manifest (command, interactivity and event URLs, scopes)."""
    if not safe_url(url):
        typer.echo("error: --url must be an absolute http(s) address", err=True)
        raise typer.Exit(2)
    if not url.startswith("https://"):
        typer.echo("warning: Slack only calls https:// request URLs", err=True)
    data = manifest(load(get_settings()), url)
    typer.echo(json.dumps(data, indent=2) if as_json else yaml.safe_dump(data, sort_keys=False))
