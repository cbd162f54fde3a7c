"""The CLI against a real database of each kind: in-process for the flows, and the installed
entry point as a real process (exit codes, streams, no traceback)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

from tests.support import cli
from tests.support.procs import ApiProc, env_for
from warroom.policy import loader as policy_loader


def run(db_url: str, *args: str, input: str | None = None) -> cli.Ran:
    return cli.warroom(*args, env={"WARROOM_DATABASE_URL": db_url}, input=input)


def ok(db_url: str, *args: str, input: str | None = None) -> str:
    return cli.ok(*args, env={"WARROOM_DATABASE_URL": db_url}, input=input)


def _process(db_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WARROOM_")}
    env["WARROOM_DATABASE_URL"] = db_url
    return subprocess.run([sys.executable, "-m", "warroom", *args], capture_output=True, text=True, env=env, timeout=60)


def test_entry_point_as_a_process(db_url: str) -> None:
    """What a shell sees: output on stdout, errors on stderr without a traceback, exit codes."""
    assert _process(db_url, "user", "add", "alice").returncode == 0  # a commander is a person
    done = _process(
        db_url, "incident", "declare", "-s", "sis", "-p", "P2", "--severity", "SEV-3", "--as", "alice", "--json"
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["id"] == "INC-1"
    for args, code, message in [
        (["incident", "show", "INC-404"], 1, "no incident"),
        (["incident", "declare", "-s", "sis", "-p", "P9", "--severity", "SEV-1"], 2, "priority"),
    ]:
        done = _process(db_url, *args)
        assert (done.returncode, done.stdout) == (code, ""), (args, done)
        assert message in done.stderr and "Traceback" not in done.stderr, (args, done.stderr)


def test_incident_lifecycle_from_terminal(db_url: str) -> None:
    ok(db_url, "db", "upgrade")
    ok(db_url, "user", "add", "alice", "--role", "responder", "--slack-id", "U1")
    ok(db_url, "user", "passwd", "alice", "--password", "correct horse battery")
    token = ok(db_url, "token", "create", "--user", "alice").strip().splitlines()[-1]
    assert token.startswith("wru_")
    ingest = ok(db_url, "token", "create", "--ingest", "datadog").strip().splitlines()[-1]
    assert ingest.startswith("wri_")
    inc = json.loads(
        ok(db_url, "incident", "declare", "-s", "sis", "-p", "P1", "--severity", "SEV-2", "--as", "alice", "--json")
    )
    assert inc["id"] == "INC-1" and inc["commander"] == "alice"
    ok(db_url, "incident", "update", "INC-1", "-m", "rolling back", "--as", "alice")
    ok(db_url, "incident", "note", "INC-1", "-t", "first errors", "--at", "2020-01-01T00:00:00Z")
    shown = json.loads(ok(db_url, "incident", "show", "INC-1", "--json"))
    assert shown["timeline"][0]["text"] == "first errors"
    assert any(e["kind"] == "status_update" for e in shown["timeline"])
    ok(db_url, "incident", "edit", "INC-1", "--set", "severity=SEV-1", "--set", "users_impacted=1500")
    ok(db_url, "incident", "transition", "INC-1", "resolved", "--as", "alice")
    md = ok(db_url, "incident", "postmortem", "INC-1")
    assert md.startswith("# Postmortem: INC-1")
    listing = json.loads(ok(db_url, "incident", "list", "--state", "resolved", "--json"))
    assert listing["total"] == 1
    assert "INC-1" in ok(db_url, "incident", "list")
    tokens = json.loads(ok(db_url, "token", "list", "--json"))
    assert token not in json.dumps(tokens)
    ok(db_url, "token", "revoke", str(tokens[0]["id"]))
    assert json.loads(ok(db_url, "token", "list", "--json"))[0]["revoked"] is True


ERRORS = [
    (["incident", "show", "INC-404"], "no incident"),
    (["incident", "transition", "INC-1", "completed"], "cannot move from active to completed"),
    (["incident", "declare", "-s", "nope", "-p", "P1", "--severity", "SEV-1", "--as", "alice"], "unknown service"),
    (["incident", "declare", "-s", "sis", "-p", "P9", "--severity", "SEV-1"], "priority"),
    (["user", "add", "Bad Handle!"], "handle"),
    (["token", "create"], "exactly one of"),
    (["token", "create", "--user", "ghost"], "no user 'ghost'"),
]


def test_clear_errors_nonzero_exit(db_url: str) -> None:
    ok(db_url, "user", "add", "alice")
    ok(db_url, "incident", "declare", "-s", "sis", "-p", "P2", "--severity", "SEV-3", "--commander", "alice")
    for args, message in ERRORS:
        res = run(db_url, *args)
        assert res.returncode != 0, args
        assert message in res.stderr, (args, res.stderr)
        assert "Traceback" not in res.stderr


def test_unmigrated_or_unreachable_database_is_explained(tmp_path) -> None:  # type: ignore[no-untyped-def]
    fresh = f"sqlite:///{tmp_path / 'new.db'}"
    done = run(fresh, "incident", "list")
    assert done.returncode == 1
    assert "has no warroom schema yet: run `warroom db upgrade` first" in done.stderr, done.stderr
    down = "postgresql://someone:hunter22@127.0.0.1:9/warroom"  # port 9 (discard): nothing listens
    done = run(down, "incident", "list")
    assert done.returncode == 1 and "cannot reach the database" in done.stderr, done.stderr
    assert "hunter22" not in done.stderr and "***" in done.stderr
    ok(fresh, "db", "upgrade")
    assert "no incidents" in ok(fresh, "incident", "list")


def _cadence_policy(path: Path, every: str) -> Path:
    text = policy_loader.reference_policy_text().replace("  default: 30m\n", f"  default: {every}\n", 1)
    every_priority = ", ".join(f"P{n}: {every}" for n in range(1, 5))
    text = re.sub(r"per_priority: \{[^}]*\}", f"per_priority: {{{every_priority}}}", text)
    path.write_text(text)
    return path


def _cadence_minutes(db_url: str, policy: Path | None) -> float:
    env = {"WARROOM_DATABASE_URL": db_url, "WARROOM_POLICY": str(policy) if policy else None}
    declare = ("incident", "declare", "-s", "sis", "-p", "P2", "--severity", "SEV-3", "--as", "admin", "--json")
    out = json.loads(cli.ok(*declare, env=env))
    due, declared = (datetime.fromisoformat(out[k]) for k in ("next_update_due_at", "declared_at"))
    return (due - declared).total_seconds() / 60


@pytest.mark.slow
def test_the_cli_computes_with_the_policy_the_server_runs(db_url: str, tmp_path: Path) -> None:
    """Issue 18 item 7: without WARROOM_POLICY the CLI used the bundled policy and computed a
    30-minute due time while the server ran a 3-minute cadence."""
    served = _cadence_policy(tmp_path / "policy.yaml", "3m")
    api = ApiProc(env_for(db_url, WARROOM_POLICY=str(served)), tmp_path / "serve.log").start()
    api.stop()
    assert _cadence_minutes(db_url, None) == 3  # the server's file, found through the database
    copy = tmp_path / "elsewhere" / "copy.yaml"
    copy.parent.mkdir()
    copy.write_text(served.read_text())
    assert _cadence_minutes(db_url, copy) == 3  # the same text anywhere is the same policy
    for policy, said in [
        (_cadence_policy(tmp_path / "other.yaml", "10m"), "WARROOM_POLICY names"),
        (Path(policy_loader.__file__).with_name("reference.yaml"), "WARROOM_POLICY names"),
    ]:
        done = cli.warroom(
            "incident", "show", "INC-1", env={"WARROOM_DATABASE_URL": db_url, "WARROOM_POLICY": str(policy)}
        )
        assert done.returncode == 2, done
        assert f"the server runs {served.resolve()}" in done.stderr and said in done.stderr, done.stderr
    _cadence_policy(served, "5m")  # edited after the server started: it still runs the 3-minute one
    done = cli.warroom("incident", "update", "INC-1", "-m", "x", env={"WARROOM_DATABASE_URL": db_url})
    assert done.returncode == 2 and "that file now holds" in done.stderr, done.stderr
    served.unlink()
    done = cli.warroom("incident", "show", "INC-1", env={"WARROOM_DATABASE_URL": db_url})
    assert done.returncode == 2 and "cannot read" in done.stderr and "set WARROOM_POLICY" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.slow
def test_a_server_on_the_bundled_policy_refuses_a_cli_with_another(db_url: str, tmp_path: Path) -> None:
    ApiProc(env_for(db_url), tmp_path / "serve.log").start().stop()
    assert _cadence_minutes(db_url, None) == 30
    mine = _cadence_policy(tmp_path / "mine.yaml", "3m")
    done = cli.warroom("incident", "show", "INC-1", env={"WARROOM_DATABASE_URL": db_url, "WARROOM_POLICY": str(mine)})
    assert done.returncode == 2 and "the server runs the bundled reference policy" in done.stderr, done.stderr
    # the server restarted on that file: the audit log says who changed the policy in force, and when
    api = ApiProc(env_for(db_url, WARROOM_POLICY=str(mine)), tmp_path / "again.log").start()
    api.stop()
    assert "policy in force:" in api.log() and "was the bundled reference policy" in api.log()
    assert _cadence_minutes(db_url, mine) == 3
