"""`warroom slack manifest`: setting up is "create app from manifest, paste two secrets"."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from tests.support import cli
from tests.support.notify import policy_raw


def test_the_manifest_points_everything_at_the_one_request_url() -> None:
    data = yaml.safe_load(cli.ok("slack", "manifest", "--url", "https://warroom.example.org/", env={}))
    url = "https://warroom.example.org/slack/events"
    [command] = data["features"]["slash_commands"]
    assert command["command"] == "/warroom" and command["url"] == url
    assert data["settings"]["interactivity"] == {"is_enabled": True, "request_url": url}
    assert data["settings"]["event_subscriptions"]["request_url"] == url
    assert {"chat:write", "commands", "users:read"} <= set(data["oauth_config"]["scopes"]["bot"])
    assert data["settings"]["socket_mode_enabled"] is False


def test_the_manifest_uses_the_policy_command_name_and_refuses_a_bad_url(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(policy_raw(slack={"command": "/incident"})))
    out = cli.ok("slack", "manifest", "--url", "https://w.example", "--json", env={"WARROOM_POLICY": str(path)})
    assert json.loads(out)["features"]["slash_commands"][0]["command"] == "/incident"
    bad = cli.warroom("slack", "manifest", "--url", "javascript:alert(1)", env={})
    assert bad.returncode == 2 and "http(s)" in bad.stderr
