"""The on-call tests' policy: docs/oncall.md's complete example loaded into the reference policy."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from warroom.policy import Policy
from warroom.policy.loader import parse_policy, reference_policy_text

DOC = Path(__file__).resolve().parents[2] / "docs" / "oncall.md"
PEOPLE = ("alice", "bob", "carol", "dave", "erin", "frank")


def doc_blocks(kind: str) -> list[str]:
    return re.findall(rf"```{kind}\n(.*?)```", DOC.read_text(), re.S)


def merged(snippet: dict[str, Any], extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The reference policy with `snippet`'s keys laid over it; its services replace those of the same key."""
    data = yaml.safe_load(reference_policy_text())
    for layer in (snippet, extra or {}):
        for key, value in layer.items():
            if key == "services":
                given = {s["key"]: s for s in value}
                data["services"] = [given.pop(s["key"], s) for s in data["services"]] + list(given.values())
            elif isinstance(value, dict) and isinstance(data.get(key), dict):
                data[key] = {**data[key], **value}
            else:
                data[key] = value
    return data


def example_data(extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The complete example (the first YAML block of docs/oncall.md) in the reference, plus `extra` keys."""
    return merged(yaml.safe_load(doc_blocks("yaml")[0]), extra)


def example_policy(extra: dict[str, Any] | None = None) -> Policy:
    return parse_policy(yaml.safe_dump(example_data(extra)), "docs/oncall.md")


DAYTIME = {  # a schedule with gaps: erin only on weekdays 09-17 Berlin
    "timezone": "Europe/Berlin",
    "layers": [
        {
            "members": ["erin"],
            "start": "2026-01-05",
            "length": "daily",
            "restrictions": [{"days": ["mon", "tue", "wed", "thu", "fri"], "start": "09:00", "end": "17:00"}],
        }
    ],
}
