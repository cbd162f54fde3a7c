"""`warroom simulate FILE --source ...`: dry-run output, nothing stored."""

from __future__ import annotations

import json

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from tests.support import cli
from tests.support.alerts import FIXTURES
from warroom.alerts.models import Alert


def _run(db_url: str, *args: str) -> cli.Ran:
    return cli.warroom("simulate", *args, env={"WARROOM_DATABASE_URL": db_url})


def test_simulate_datadog_file(db_url: str, engine: Engine) -> None:
    done = _run(db_url, str(FIXTURES / "datadog_rich_triggered.json"), "--source", "datadog", "--json")
    assert done.returncode == 0, done.stderr
    [res] = json.loads(done.stdout)["results"]
    assert (res["service"], res["tier"], res["priority"], res["declare"]) == ("sis", 1, "P3", False)
    assert "unknown-impact-window" in res["rules"]
    text = _run(db_url, str(FIXTURES / "alertmanager_firing.json"), "--source", "alertmanager")
    assert text.returncode == 0, text.stderr
    assert "declare an incident" in text.stdout and "matrix-t1-gt1000" in text.stdout
    with engine.connect() as conn:
        assert conn.scalar(select(func.count(Alert.id))) == 0


def test_simulate_bad_file(db_url: str) -> None:
    done = _run(db_url, str(FIXTURES / "events_trigger.json"), "--source", "datadog")
    assert done.returncode == 2 and "cannot read this datadog payload" in done.stderr
    done = _run(db_url, "/nonexistent.json")
    assert done.returncode == 2 and "cannot read" in done.stderr
