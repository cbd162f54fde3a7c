"""The private PostgreSQL cluster every fault scenario runs on (never the machine's shared one)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.support.pgcluster import PgCluster, pg_bin

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture(scope="session")
def cluster() -> Iterator[PgCluster]:
    if pg_bin() is None:
        reason = "the fault tests need PostgreSQL's initdb and pg_ctl"
        if IN_CI:
            pytest.fail(f"CI requires them: {reason}")
        pytest.skip(reason)
    pg = PgCluster().init()
    try:
        yield pg
    finally:
        pg.destroy()
