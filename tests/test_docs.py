"""The README keeps up with the code: every setting and policy key is documented, its examples run."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from warroom.core.settings import Settings
from warroom.policy import Policy
from warroom.policy.loader import parse_policy, reference_policy_text

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def section(title: str) -> str:
    start = README.index(f"## {title}")
    end = README.find("\n## ", start + 1)
    return README[start : end if end > 0 else None]


def test_every_setting_is_in_the_configuration_table() -> None:
    table = section("Configuration")
    missing = [f"WARROOM_{name.upper()}" for name in Settings.model_fields if f"`WARROOM_{name.upper()}`" not in table]
    assert not missing, f"README 'Configuration' does not list {missing}"
    documented = set(re.findall(r"`WARROOM_([A-Z_]+)`", table))
    unknown = sorted(d for d in documented if d.lower() not in Settings.model_fields)
    assert not unknown, f"README 'Configuration' lists settings that do not exist: {unknown}"


def test_every_policy_key_is_in_the_policy_table() -> None:
    table = section("The policy file")
    missing = [key for key in Policy.model_fields if not re.search(rf"^\| `{key}[`.]", table, re.M)]
    assert not missing, f"README 'The policy file' does not describe {missing}"


def test_the_slack_example_is_a_valid_policy() -> None:
    [block] = re.findall(r"```yaml\n(.*?)```", section("Slack in three steps"), re.S)
    snippet = yaml.safe_load(re.sub(r"^ {3}", "", block, flags=re.M))
    policy = yaml.safe_load(reference_policy_text())
    policy.update(snippet)
    parsed = parse_policy(yaml.safe_dump(policy), "README example")
    assert parsed.routes["completed"] == ["leadership"]
    assert parsed.channels["support"].type == "slack"
