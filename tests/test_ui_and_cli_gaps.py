"""What only the API could do gets a CLI (pending tasks, OOB draft edits); `policy check` warns about rules a
setting silently turns off; the process document ships with the repository (issue 18 item 16)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.support import cli
from tests.support.server import Running
from warroom.policy import parse_policy
from warroom.policy.loader import reference_policy_text
from warroom.policy.rules import warnings

ROOT = Path(__file__).resolve().parent.parent


def _declare(server: Running) -> str:
    with server.admin() as c:
        r = c.post("/api/v1/incidents", json={"services": ["sis"], "priority": "P1", "severity": "SEV-2"})
        assert r.status_code == 201, r.text
        ref: str = r.json()["id"]
        return ref


def test_pending_tasks_from_the_cli(server: Running, db_url: str) -> None:
    ref = _declare(server)
    env = {"WARROOM_DATABASE_URL": db_url}
    cli.ok("incident", "task", "add", ref, "add a CSP latency monitor", "--url", "https://tracker.example/42", env=env)
    cli.ok("incident", "task", "add", ref, "write the runbook", env=env)
    out = json.loads(cli.ok("incident", "task", "done", ref, "1", "--json", env=env))
    assert [(t["number"], t["title"], t["done"]) for t in out["tasks"]] == [
        (1, "add a CSP latency monitor", True),
        (2, "write the runbook", False),
    ]
    assert "2. [ ] write the runbook" in cli.ok("incident", "task", "list", ref, env=env)
    bad = cli.warroom("incident", "task", "add", ref, "x", "--url", "javascript:alert(1)", env=env)
    assert bad.returncode == 2 and "url" in bad.stderr
    missing = cli.warroom("incident", "task", "done", ref, "7", env=env)
    assert missing.returncode != 0 and "no pending task 7" in missing.stderr
    cli.ok("incident", "task", "remove", ref, "1", env=env)
    with server.admin() as c:
        inc = c.get(f"/api/v1/incidents/{ref}").json()
        kinds = [e["text"] for e in c.get(f"/api/v1/incidents/{ref}/timeline").json()["items"]]
    assert inc["pending_tasks"] == [{"title": "write the runbook", "url": None, "done": False}]
    assert kinds.count("Edited pending_tasks") == 4  # add, add, done, remove


def test_oob_draft_edits_from_the_cli(server: Running, db_url: str) -> None:
    ref = _declare(server)
    env = {"WARROOM_DATABASE_URL": db_url}
    made = json.loads(cli.ok("oob", "create", ref, "--description", "hotfix", "--users", "300", "--json", env=env))
    oob = made["id"]
    edited = json.loads(
        cli.ok("oob", "edit", oob, "--severity", "high", "--confirm-postmortem", "--security", "--json", env=env)
    )
    assert (edited["platform_severity"], edited["confirm_postmortem"], edited["security_related"]) == (
        "high",
        True,
        True,
    )
    assert (edited["description"], edited["active_daily_users"]) == ("hotfix", 300)  # untouched: not given
    again = json.loads(cli.ok("oob", "edit", oob, "--no-security", "--json", env=env))
    assert again["security_related"] is False and again["confirm_postmortem"] is True
    refused = cli.warroom("oob", "edit", oob, "--request", env=env)
    assert refused.returncode != 0 and "the OOB form is incomplete" in refused.stderr
    assert cli.warroom("oob", "edit", oob, "--users", str(2**40), env=env).returncode == 2
    with server.admin() as c:
        c.post(f"/api/v1/incidents/{ref}/oob-requests/{oob}/transitions", json={"to": "cancelled"})
    late = cli.warroom("oob", "edit", oob, "--description", "too late", env=env)
    assert late.returncode != 0 and "only a draft's form can change" in late.stderr


@pytest.mark.parametrize(
    ("old", "new", "said"),
    [
        ("  escalate_tiers: [1]", "  escalate_tiers: [2]", "leaves out tier 1 (production)"),
        ("  escalate_tiers: [1]", "  escalate_tiers: []", "the 15-minute rule is off"),
        ("  escalate_tiers: [1]", "  escalate_tiers: [1, 7]", "tier 7 has no row in priority.tiers"),
        ("  reminder: [support]\n", "", "routes.reminder is missing or empty"),
        ("must_declare: [P1]", "must_declare: []", "no alert ever declares an incident"),
        ("  remind_before: 5m", "  remind_before: 30m", "the P1 cadence is not longer than cadence.remind_before"),
    ],
)
def test_policy_check_warns_when_a_setting_turns_a_rule_off(tmp_path: Path, old: str, new: str, said: str) -> None:
    text = reference_policy_text()
    assert old in text, old
    path = tmp_path / "policy.yaml"
    path.write_text(text.replace(old, new, 1))
    assert any(said in w for w in warnings(parse_policy(path.read_text()))), warnings(parse_policy(path.read_text()))
    ran = cli.warroom("policy", "check", str(path), env={})
    assert ran.returncode == 0 and "warning: " in ran.stderr and said in ran.stderr, ran.stderr
    assert "1 warning(s)" in ran.stdout or "warning(s)" in ran.stdout
    strict = cli.warroom("policy", "check", "--strict", str(path), env={})
    assert strict.returncode == 1


def test_the_reference_policy_has_no_warnings() -> None:
    assert warnings(parse_policy(reference_policy_text())) == []


def test_the_process_document_ships_and_the_readme_points_at_it() -> None:
    readme = (ROOT / "README.md").read_text()
    process = ROOT / "docs" / "process.md"
    assert process.read_text().startswith("# The incident response process that warroom automates")
    assert "](docs/process.md)" in readme and "shared/spec" not in readme
    for target in re.findall(r"\]\(((?:docs|src|bench|deploy)/[^)#]+)", readme):  # every local link resolves
        assert (ROOT / target).exists(), target
