"""export -> import restores everything into an empty database of the other kind."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support import databases
from tests.support.server import Running
from tests.test_cli import ok, run


def _target_url(kind: str, tmp_path: Path) -> str:
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'restored.db'}"
    reason = databases.postgres_available()
    if reason:
        pytest.skip(reason)
    return databases.create_pg_database()


def test_export_import_across_kinds(server: Running, db_url: str, tmp_path: Path) -> None:
    with server.admin() as c:
        inc = c.post(
            "/api/v1/incidents",
            json={"services": ["sis", "csp"], "priority": "P1", "severity": "SEV-1", "impacts": "ünïcode ✓"},
        ).json()
        c.post(f"/api/v1/incidents/{inc['id']}/updates", json={"message": "looking"})
        c.post(
            f"/api/v1/incidents/{inc['id']}/timeline", json={"text": "earlier", "occurred_at": "2026-10-05T08:00:00Z"}
        )
        c.post(f"/api/v1/incidents/{inc['id']}/transitions", json={"to": "resolved"})
        before = c.get(f"/api/v1/incidents/{inc['id']}").json()
        timeline = c.get(f"/api/v1/incidents/{inc['id']}/timeline").json()
    dump = tmp_path / "dump.json"
    ok(db_url, "export", str(dump))
    data = json.loads(dump.read_text())
    assert data["format"] == "warroom-export" and data["version"] == 1
    assert len(data["tables"]["incidents"]) == 1

    target_kind = "postgres" if db_url.startswith("sqlite") else "sqlite"
    target = _target_url(target_kind, tmp_path)
    try:
        assert "imported" in ok(target, "import", str(dump))
        again = run(target, "import", str(dump))
        assert again.returncode == 1 and "not empty" in again.stderr
        shown = json.loads(ok(target, "incident", "show", inc["id"], "--json"))
        for key in (
            "title",
            "services",
            "priority",
            "severity",
            "state",
            "impacts",
            "declared_at",
            "resolved_at",
            "next_update_due_at",
        ):
            assert shown[key] == before[key], key
        assert [e["text"] for e in shown["timeline"]] == [e["text"] for e in timeline]
        assert "Postmortem" in ok(target, "incident", "postmortem", inc["id"])
        # ids keep counting after the restored ones
        nxt = json.loads(
            ok(target, "incident", "declare", "-s", "sis", "-p", "P3", "--severity", "SEV-4", "--as", "admin", "--json")
        )
        assert nxt["id"] == "INC-2"
    finally:
        if target_kind == "postgres":
            databases.drop_pg_database(target)


def test_import_rejects_garbage(tmp_path: Path) -> None:
    target = f"sqlite:///{tmp_path / 'x.db'}"
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "something-else"}')
    res = run(target, "import", str(bad))
    assert res.returncode == 1 and "not a warroom export" in res.stderr
    bad.write_text("{oops")
    res = run(target, "import", str(bad))
    assert res.returncode == 1 and "cannot read" in res.stderr
