"""Memory and list endpoints on a database with 1,000,000 alert events.

Seeds a year of history (bench/memory_seed.py: COPY on PostgreSQL, Core executemany on SQLite),
starts `warroom serve --no-worker` and `warroom worker`, and prints the RSS of both after start,
after a period of ingest load, and after each list/report endpoint (with its median time over
`--repeat` calls); then the database and table sizes.

    PYTHONPATH=src:. python bench/memory.py [--db postgres|sqlite] [--events 1000000] [--load 30]
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import yaml
from bench import loadgen
from bench.clusterlib import db_size, drop_database, loadavg, new_database, proc_env, rss_mb, warroom_cli
from bench.ingest import descendants
from bench.memory_seed import seed
from tests.support.http_fakes import SlackApiServer
from tests.support.notify import SLACK_TOKEN, policy_raw
from tests.support.procs import ApiProc, Proc, worker_proc

from warroom import migrate
from warroom.core.db import make_engine, session_factory
from warroom.users import service as users

PASSWORD = "bench-password-1"


def endpoints(storm: int, alert_id: int) -> list[str]:
    now = datetime.now(UTC)
    year = f"from={(now - timedelta(days=365)).date()}&to={(now + timedelta(days=1)).date()}"
    month = (now - timedelta(days=40)).strftime("%Y-%m")
    return [
        "/api/v1/alerts",
        "/api/v1/alerts?page=2000",
        "/api/v1/alerts?per_page=500",
        "/api/v1/alerts?status=firing",
        "/api/v1/alerts?service=sis&source=alertmanager",
        "/api/v1/alerts?status=firing&unlinked=true",
        f"/api/v1/alerts?incident=INC-{storm}",
        f"/api/v1/alerts/{alert_id}",
        "/api/v1/alerts/1",
        "/api/v1/incidents",
        "/api/v1/incidents?page=50",
        "/incidents",
        "/alerts",
        "/",
        f"/api/v1/reports?{year}&group_by=service",
        f"/api/v1/reports?{year}&group_by=priority&format=csv",
        f"/api/v1/reports/monthly?month={month}",
        "/metrics",
        "/api/v1/status",
        f"/api/v1/incidents/INC-{storm}",
        f"/incidents/INC-{storm}",
        f"/api/v1/incidents/INC-{storm}/timeline",
        f"/api/v1/incidents/INC-{storm}/updates/draft",
    ]


def login(base: str) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=600)
    page = client.get("/login")
    m = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert m, page.text[:500]
    r = client.post("/login", data={"handle": "bench", "password": PASSWORD, "csrf": m.group(1)})
    assert r.status_code in (200, 303), r.text[:500]
    return client


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", choices=["postgres", "sqlite"], default="postgres")
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--incidents", type=int, default=5_000)
    ap.add_argument("--storm", type=int, default=20_000, help="alerts grouped into one open incident")
    ap.add_argument("--flap", type=int, default=10_000, help="of the events, re-deliveries of alert 1")
    ap.add_argument("--load", type=float, default=30.0, help="seconds of ingest load")
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--keep", action="store_true", help="do not drop the database")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="wr-memory-"))
    url = new_database(args.db, tmp)
    print(f"memory bench: db={args.db} events={args.events:,}; load average {loadavg()}; logs in {tmp}", flush=True)
    procs: dict[str, Proc] = {}
    engine = make_engine(url)
    try:
        migrate.upgrade(url)
        t = time.monotonic()
        counts = seed(
            engine,
            events=args.events,
            n_incidents=args.incidents,
            storm=args.storm,
            flap=args.flap,
            progress=lambda s: print(s, flush=True),
        )
        print(f"seeded {counts} in {time.monotonic() - t:.0f}s; sizes {db_size(url)}", flush=True)
        with session_factory(engine).begin() as s:
            user = users.create_user(s, now=datetime.now(UTC), handle="bench", role="admin")
            users.set_password(user, PASSWORD)
        engine.dispose()
        raw = policy_raw(notifications={"slack_pace": "0s", "lease": "30s", "timeout": "5s"})
        (tmp / "policy.yaml").write_text(yaml.safe_dump(raw))
        with SlackApiServer(token=SLACK_TOKEN) as slack:
            env = proc_env(
                url,
                WARROOM_POLICY=str(tmp / "policy.yaml"),
                WARROOM_SLACK_TOKEN=SLACK_TOKEN,
                WARROOM_SLACK_API_URL=slack.url,
            )
            ingest_token = warroom_cli(["token", "create", "--ingest", "bench"], env)
            admin_token = warroom_cli(["token", "create", "--user", "bench"], env)
            api = ApiProc(env, tmp / "api.log").start()
            procs = {"serve": api, "worker": worker_proc(env, tmp / "worker.log").start()}

            def rss() -> str:
                """Each process's RSS; on PostgreSQL `serve` has an ingest writer process too."""
                return "  ".join(
                    f"{n} {rss_mb(p.popen.pid):.0f} MB"
                    + "".join(f" (+ writer {rss_mb(kid):.0f} MB)" for kid in descendants(p.popen.pid))
                    for n, p in procs.items()
                    if p.popen
                )

            time.sleep(10)
            print(f"RSS after start (10 s idle): {rss()}", flush=True)
            result = asyncio.run(
                loadgen.drive([api.url], ingest_token, seconds=args.load, clients=args.clients, rate=0)
            )
            print(
                f"ingest load {args.load:g}s, {args.clients} clients: {result.requests} requests, "
                f"{result.alerts} alerts, errors {sum(result.errors.values())}; load average {loadavg()}"
            )
            print(f"RSS after ingest load: {rss()}", flush=True)
            web = login(api.url)
            hdr = {"Authorization": f"Bearer {admin_token}"}
            print(f"{'endpoint':<70} {'median ms':>10} {'bytes':>10}  serve RSS after (MB)")
            for path in endpoints(counts["storm_incident"], counts["alerts"] // 2):
                times, size, status = [], 0, 0
                for _ in range(args.repeat):
                    t0 = time.perf_counter()
                    r = (
                        web.get(path)
                        if not path.startswith(("/api", "/metrics"))
                        else httpx.get(api.url + path, headers=hdr, timeout=600)
                    )
                    times.append(time.perf_counter() - t0)
                    size, status = len(r.content), r.status_code
                flag = "" if status == 200 else f" HTTP {status}"
                print(
                    f"{path:<70} {statistics.median(times) * 1000:>10.0f} {size:>10}  "
                    f"{rss_mb(api.popen.pid):.0f}{flag}",
                    flush=True,
                )  # type: ignore[union-attr]
            time.sleep(5)
            print(f"RSS after endpoints: {rss()}; load average {loadavg()}")
            print(f"sizes after: {db_size(url)}")
            for name, p in procs.items():
                p.stop()
                if "Traceback" in p.log():
                    print(f"  {name} logged a traceback: see {p.log_path}")
    finally:
        for p in procs.values():
            p.stop()
        if not args.keep:
            drop_database(url)
        else:
            print(f"kept {url}")


if __name__ == "__main__":
    main()
