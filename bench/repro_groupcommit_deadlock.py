"""Reproduction: two API processes' group-commit batches deadlock on the per-service advisory locks.

`ingest()` sorts one request's alerts by service before locking, but a group-commit batch runs
several requests in one transaction and each takes `pg_advisory_xact_lock(service)` in arrival
order, holding it until the batch commits. Batch A = [sis alert, usip alert] and batch B =
[usip alert, sis alert] in two processes deadlock; PostgreSQL kills one unit, which the API
answers with HTTP 500 (seen as 2 errors in 445 requests in bench/cluster.py). Exits 1 when a
unit fails with a deadlock, 0 when both batches commit.

    PYTHONPATH=src:. python bench/repro_groupcommit_deadlock.py
"""

from __future__ import annotations

import sys
import threading
from concurrent.futures import Future
from datetime import UTC, datetime
from typing import Any

from bench.clusterlib import dd_body
from sqlalchemy.orm import Session
from tests.support import databases

from warroom import migrate
from warroom.api.groupcommit import GroupCommitter
from warroom.db import make_engine, session_factory
from warroom.ingest import parsers
from warroom.ingest import service as ingest
from warroom.policy import reference_policy


def main() -> int:
    import random

    url = databases.create_pg_database()
    try:
        migrate.upgrade(url)
        policy = reference_policy()
        barrier = threading.Barrier(2, timeout=10)
        rng = random.Random(1)

        def unit(service: str, key: str, wait: bool) -> Any:
            items, _ = parsers.parse("datadog", dd_body(rng, key, env="staging", service=service))

            def work(session: Session) -> Any:
                out = ingest.ingest(session, policy=policy, now=datetime.now(UTC), items=items)
                if wait:
                    barrier.wait()  # both batches now hold their first service lock
                return out

            return work

        engines = [make_engine(url), make_engine(url)]
        futures: list[Future[Any]] = []
        for engine, (first, second) in zip(engines, (("sis", "usip"), ("usip", "sis")), strict=True):
            committer = GroupCommitter(session_factory(engine))
            head: Future[Any] = Future()
            committer._queue.put((unit(first, f"{first}-a-{id(committer)}", True), head))  # same batch
            futures += [head, committer.submit(unit(second, f"{second}-b-{id(committer)}", False))]
        failed = []
        for f in futures:
            try:
                f.result(timeout=30)
            except Exception as exc:  # noqa: BLE001
                failed.append(f"{type(exc).__name__}: {str(exc).splitlines()[0]}")
        for engine in engines:
            engine.dispose()
        if failed:
            print("FAIL: a unit of work failed (the API would answer 500):\n  " + "\n  ".join(failed))
            return 1
        print("ok: both batches committed")
        return 0
    finally:
        databases.drop_pg_database(url)


if __name__ == "__main__":
    sys.exit(main())
