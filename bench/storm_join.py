"""Cost of one alert joining an open incident that already has N firing alerts (an alert storm).

Each joining alert runs `suggest_severity`. It used to read the labels of every firing alert of
the incident (O(N)); now an alert without a severity tag (the seeded storm's alerts and, by
default, the joining ones have no `csp` label) skips it, and so does any alert once the incident
is as severe as the rules can make it; one with a tag (`--tagged`: the joining alerts carry
`csp:idme`; the seeded storm incident is SEV-3) runs one SELECT DISTINCT (tag value, tier) over
the incident's firing alerts. Prints the in-process time per joining alert (one transaction each) for several N.

    PYTHONPATH=src:. python bench/storm_join.py [--db sqlite|postgres] [--sizes 0,2000,20000] [--alerts 30] [--tagged]
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.clusterlib import dd_body, drop_database, new_database
from bench.memory_seed import SERVICES, seed

from warroom import migrate, wiring
from warroom.core.db import make_engine, session_factory
from warroom.ingest import parsers
from warroom.ingest.fastpath import store as ingest
from warroom.policy import reference_policy


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    ap.add_argument("--sizes", default="0,2000,20000")
    ap.add_argument("--alerts", type=int, default=30)
    ap.add_argument("--tagged", action="store_true", help="joining alerts carry a severity tag (csp:idme)")
    args = ap.parse_args()
    policy = reference_policy()
    hooks = wiring.build_registry().hooks()  # store.ingest takes the wiring's hooks (a reopen runs them)
    rng = random.Random(3)
    for size in (int(s) for s in args.sizes.split(",")):
        url = new_database(args.db, Path(tempfile.mkdtemp()))
        try:
            migrate.upgrade(url)
            engine = make_engine(url)
            counts = seed(engine, events=(size + 100) * 4, n_incidents=50, storm=size, progress=lambda s: None)
            service = SERVICES[counts["storm_incident"] % 6]
            sessions = session_factory(engine)
            times, joined = [], 0
            for i in range(args.alerts):
                body = dd_body(rng, f"join-{i}", env="prod", service=service)
                if args.tagged:
                    body["tags"] += ",csp:idme"
                items, _ = parsers.parse("datadog", body)
                assert not args.tagged or items[0].labels.get("csp") == "idme"
                t0 = time.perf_counter()
                with sessions.begin() as s:
                    out = ingest.ingest(s, policy=policy, hooks=hooks, now=datetime.now(UTC), items=items)
                times.append(time.perf_counter() - t0)
                joined += out[0].incident_id == counts["storm_incident"]
            print(
                f"{args.db}{' tagged' if args.tagged else ''}: incident with {size:>6} firing alerts: "
                f"one joining alert median "
                f"{statistics.median(times) * 1000:.0f} ms, max {max(times) * 1000:.0f} ms "
                f"({joined}/{args.alerts} joined it)",
                flush=True,
            )
            engine.dispose()
        finally:
            drop_database(url)


if __name__ == "__main__":
    main()
