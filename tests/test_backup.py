"""export -> import restores everything into an empty database of the other kind."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.support import databases
from tests.support.server import Running
from tests.test_cli import ok, run
from warroom.core.db import make_engine


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
        timeline = c.get(f"/api/v1/incidents/{inc['id']}/timeline").json()["items"]
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


@pytest.fixture
def umask_022() -> Iterator[None]:
    """The usual umask, under which files were created 0644."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_export_files_are_private(db_url: str, tmp_path: Path, umask_022: None) -> None:
    """A dump holds password and token hashes: 0600, also when it overwrites an older file."""
    ok(db_url, "user", "add", "alice")
    dump = tmp_path / "dump.json"
    ok(db_url, "export", str(dump))
    assert _mode(dump) == 0o600
    older = tmp_path / "older.json"
    older.write_text("{}")
    older.chmod(0o644)
    ok(db_url, "export", str(older))
    assert _mode(older) == 0o600 and json.loads(older.read_text())["tables"]["users"]


def test_sqlite_database_and_its_wal_are_private(tmp_path: Path, umask_022: None) -> None:
    path = tmp_path / "warroom.db"
    url = f"sqlite:///{path}"
    ok(url, "db", "upgrade")  # what `serve` does first on an empty directory
    assert _mode(path) == 0o600
    assert _mode(tmp_path / "warroom.db.migrate-lock") == 0o600
    engine = make_engine(url)
    try:
        with engine.begin() as conn:  # while a connection is open the WAL and shared memory exist
            conn.execute(sa.text("INSERT INTO app_settings (key, value) VALUES ('k', 'v')"))
        with engine.connect():
            for name in ("warroom.db-wal", "warroom.db-shm"):
                assert _mode(tmp_path / name) == 0o600, name
    finally:
        engine.dispose()


def test_an_existing_readable_database_is_made_private(tmp_path: Path, umask_022: None) -> None:
    path = tmp_path / "old.db"
    sqlite3.connect(path).close()  # as SQLite itself created it before: 0644
    assert _mode(path) == 0o644
    ok(f"sqlite:///{path}", "db", "upgrade")
    assert _mode(path) == 0o600
