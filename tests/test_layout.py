"""The layout's promises: every process builds from the one wiring, and every entry point's changes
go through the one unit of work that audits them (issue: "one folder per domain, one core")."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import timedelta

import pytest

from tests.support import cli
from tests.support.server import Running
from tests.support.web import login, make_web_user
from tests.support.wired import REGISTRY, run_due
from warroom import wiring
from warroom.app import create_app
from warroom.core.settings import Settings
from warroom.policy import reference_policy


def _process(db_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`python -m warroom ...` as a terminal runs it: a fresh interpreter, nothing imported first."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WARROOM_")}
    env["WARROOM_DATABASE_URL"] = db_url
    return subprocess.run([sys.executable, "-m", "warroom", *args], capture_output=True, text=True, env=env, timeout=90)


def _sections(markdown: str) -> list[str]:
    return re.findall(r"(?m)^## (.+)$", markdown)


def test_a_resolution_from_the_terminal_writes_every_postmortem_section(server: Running, db_url: str) -> None:
    """Before: the CLI never imported the module that registered the cadence section, so
    `warroom incident transition INC-1 resolved` wrote a postmortem without it."""
    env = {"WARROOM_DATABASE_URL": db_url}
    with server.admin() as c:
        for _ in range(2):
            r = c.post("/api/v1/incidents", json={"services": ["sis"], "priority": "P2", "severity": "SEV-2"})
            assert r.status_code == 201, r.text
        for ref in ("INC-1", "INC-2"):  # an OOB deploy each: the deploys domain's section
            r = c.post(
                f"/api/v1/incidents/{ref}/oob-requests",
                json={"description": "hotfix", "reason": "cannot wait", "platform_severity": "high"},
            )
            assert r.status_code == 201, r.text
            move = c.post(
                f"/api/v1/incidents/{ref}/oob-requests/{r.json()['id']}/transitions", json={"to": "cancelled"}
            )
            assert move.status_code == 200, move.text
        api = c.post("/api/v1/incidents/INC-1/transitions", json={"to": "resolved"})
        assert api.status_code == 200, api.text
        via_api = c.get("/api/v1/incidents/INC-1/postmortem").json()["markdown"]
    done = _process(db_url, "incident", "transition", "INC-2", "resolved")
    assert done.returncode == 0, done.stderr
    via_cli = cli.ok("incident", "postmortem", "INC-2", env=env)
    assert "Status update cadence" in _sections(via_cli)
    assert "Out-of-band deploys" in _sections(via_cli)
    assert _sections(via_cli) == _sections(via_api)


def _audit(server: Running, **query: str) -> list[dict[str, object]]:
    with server.admin() as c:
        r = c.get("/api/v1/audit", params={"per_page": "1000", **query})
        assert r.status_code == 200, r.text
        items: list[dict[str, object]] = r.json()["items"]
        return items


def test_every_entry_point_audits_its_changes_with_its_channel(server: Running, db_url: str) -> None:
    """Before: the web UI's posts committed without an audit row."""
    make_web_user(server, "alice")
    alice, token = login(server, "alice")
    r = alice.post(
        "/incidents/new",
        data={"services": "sis", "priority": "P2", "severity": "SEV-2", "title": "web one", "csrf": token},
    )
    assert r.status_code == 303 and r.headers["location"].endswith("/incidents/INC-1"), r.text
    assert alice.post("/incidents/INC-1/notes", data={"text": "seen in the logs", "csrf": token}).status_code == 303
    assert alice.post("/incidents/INC-1/transition", data={"to": "stable", "csrf": token}).status_code == 303
    web = [(e["action"], e["target"]) for e in _audit(server, actor="alice") if e["via"] == "web"]
    assert ("POST /incidents/new", None) in web
    assert ("POST /incidents/{ref}/notes", "INC-1") in web
    assert ("POST /incidents/{ref}/transition", "INC-1") in web
    assert ("login", None) in web

    cli.ok("incident", "note", "INC-1", "-t", "from a terminal", env={"WARROOM_DATABASE_URL": db_url})
    cli.ok("incident", "list", env={"WARROOM_DATABASE_URL": db_url})  # reads only: no row
    from_cli = [e for e in _audit(server) if e["via"] == "cli"]
    assert [e["action"] for e in from_cli] == ["warroom incident note"], from_cli

    with server.admin() as c:
        assert c.post("/api/v1/incidents/INC-1/updates", json={"message": "rolling back"}).status_code == 201
    assert any(e["via"] == "api" and e["action"] == "POST /api/v1/incidents/{ref}/updates" for e in _audit(server))

    # the worker's changes are the system's: the cadence reminder, then the missed update
    server.state.clock.advance(timedelta(hours=2))  # type: ignore[attr-defined]
    assert run_due(server.state.sessions, server.state.policy, server.state.clock) >= 1
    system = [e for e in _audit(server) if e["via"] == "system"]
    assert system and all(e["actor"] == "warroom" for e in system)
    assert {e["action"] for e in system} <= {"job cadence_remind", "job cadence_due"}, system

    # the timeline says it too (a room shows "via Slack" / "via the CLI"; the web itself goes unsaid)
    with server.admin() as c:
        entries = c.get("/api/v1/incidents/INC-1/timeline", params={"per_page": "200"}).json()["items"]
    notes = {e["text"]: e["via"] for e in entries if e["kind"] == "note"}
    assert notes == {"seen in the logs": "web", "from a terminal": "cli"}, notes
    by_kind = {(e["kind"], e["actor"]): e["via"] for e in entries}
    assert by_kind[("status_update", "admin")] == "api" and by_kind[("declared", "alice")] == "web", by_kind
    assert {v for (_, actor), v in by_kind.items() if actor == "warroom"} == {"system"}, by_kind
    room = alice.get("/incidents/INC-1").text
    assert re.search(r'from a terminal</span>\s*<small class="via" data-via="cli">via the CLI</small>', room)
    assert not re.search(r'seen in the logs</span>\s*<small class="via"', room)


def test_every_process_builds_from_the_one_wiring(db_url: str) -> None:
    """The app serves every router the registry lists, the CLI has every group, the worker every
    job kind; two builds are equal and independent (nothing is registered by being imported)."""
    first, second = wiring.build_registry(), wiring.build_registry()
    assert first is not second and list(first.jobs) == list(second.jobs)
    assert first.postmortem_sections == second.postmortem_sections and first.room_panels == second.room_panels
    app = create_app(Settings(database_url=db_url), policy=reference_policy(), registry=first)
    paths = {p for p in app.openapi()["paths"]}
    assert {"/api/v1/incidents", "/api/v1/alerts", "/api/v1/audit", "/api/v1/policy", "/api/v1/status"} <= paths
    assert {"/api/v1/ingest/alertmanager", "/api/v1/incidents/{ref}/cadence", "/api/v1/reports"} <= paths
    assert set(first.jobs) == {
        "cadence_remind",
        "cadence_due",
        "oob_postmortem_due",
        "triage_escalate",
        "alert_autoresolve",
        "page_escalate",
    }
    helptext = cli.ok("--help", env={})
    for group in (
        "serve",
        "worker",
        "db",
        "user",
        "token",
        "policy",
        "incident",
        "oob",
        "notifications",
        "simulate",
        "report",
        "export",
        "import",
    ):
        assert re.search(rf"│ {group}\b", helptext), group
    assert REGISTRY.hooks().templates[0] == "warroom.users"


def test_a_fresh_interpreter_knows_every_job_and_section_without_importing_them() -> None:
    """What `warroom worker` starts from: only `warroom.wiring` is imported, and its registry has
    every handler and hook (they used to appear only once some other module had been imported)."""
    code = (
        "import sys, json\n"
        "from warroom import wiring\n"
        "r = wiring.build_registry()\n"
        "print(json.dumps({'jobs': sorted(r.jobs), 'sections': [f.__module__ for f in r.postmortem_sections],"
        " 'panels': [p.template for p in r.room_panels]}))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("WARROOM_")}
    out = json.loads(
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True, timeout=60
        ).stdout
    )
    assert out["jobs"] == sorted(REGISTRY.jobs)
    assert out["sections"] == ["warroom.incidents.compliance", "warroom.deploys.hooks"]
    assert out["panels"] == ["_oob_panel.html", "_related_alerts_panel.html", "_datadog_panel.html"]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_the_incident_room_shows_the_panels_other_domains_add(server: Running) -> None:
    make_web_user(server, "alice")
    alice, token = login(server, "alice")
    alice.post("/incidents/new", data={"services": "sis", "priority": "P2", "severity": "SEV-2", "csrf": token})
    room = alice.get("/incidents/INC-1").text
    assert 'id="oob"' in room and "Open an out-of-band deploy request" in room
