"""An alert storm over HTTP: one Alertmanager request of N alerts joining an open incident, while
people write (notes, status updates, transitions) on it and on another incident.

Starts a real `warroom serve` (SQLite: the writer is a thread; PostgreSQL: a process), declares
the storm incident and an unrelated one, then for each storm sends one Alertmanager group of
`--alerts` new firing alerts of the incident's service and, from a second thread, times human
writes back to back until the storm's answer arrives. Prints the request's time, the joining rate
and the human writes' latencies (targets: >= 5,000 alerts/s; every write < 0.5 s, p99 < 200 ms).

    PYTHONPATH=src:. python bench/storm_request.py [--db sqlite|postgres] [--alerts 10000] [--storms 3]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import httpx
import sqlalchemy as sa
from bench.clusterlib import drop_database, loadavg, new_database, pct, proc_env, warroom_cli
from bench.ingest import cpu_seconds, descendants, free_port, served
from tests.support.alerts import storm_group

from warroom.core.db import normalize_url

SERVICE = "csp"


def human_writes(
    base: str, token: str, states: dict[str, str], stop: threading.Event, out: list[tuple[str, float]]
) -> None:
    """Back to back until `stop`: a note, a status update and a transition, on each incident in turn."""
    refs = list(states)
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=60) as c:
        n = 0
        while not stop.is_set():
            ref = refs[n % len(refs)]
            kind = ("note", "update", "transition")[(n // len(refs)) % 3]
            t0 = time.perf_counter()
            if kind == "note":
                r = c.post(f"/api/v1/incidents/{ref}/timeline", json={"text": f"checking {n}"})
            elif kind == "update":
                r = c.post(f"/api/v1/incidents/{ref}/updates", json={"message": f"Still investigating ({n})"})
            else:
                states[ref] = "stable" if states[ref] == "active" else "active"
                r = c.post(f"/api/v1/incidents/{ref}/transitions", json={"to": states[ref], "reason": "bench"})
            took = time.perf_counter() - t0
            if r.status_code >= 300:
                print(f"  {kind} on {ref}: {r.status_code} {r.text[:200]}", file=sys.stderr, flush=True)
            out.append((f"{kind} {'storm' if ref == refs[0] else 'other'}", took))
            n += 1
            time.sleep(0.02)  # a person's pace, still many writes a storm


def _cpu(pid: int, url: str) -> list[float]:
    """CPU seconds of `serve` (with its threads: the timed writes' requests too), of its writer
    process, and of the PostgreSQL backends serving this database (same machine)."""
    kids = descendants(pid)
    out = [cpu_seconds(pid) - sum(cpu_seconds(k) for k in kids), *(cpu_seconds(k) for k in kids[:1])]
    if url.startswith("postgres"):
        engine = sa.create_engine(normalize_url(url), poolclass=sa.pool.NullPool)
        with engine.connect() as c:
            pids = c.scalars(
                sa.text(
                    "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            ).all()
        engine.dispose()
        out.append(sum(cpu_seconds(p) for p in pids))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    ap.add_argument("--alerts", type=int, default=10_000)
    ap.add_argument("--storms", type=int, default=3)
    ap.add_argument("--chunk", type=int, default=0, help="WARROOM_INGEST_CHUNK_ALERTS (0: the default)")
    ap.add_argument("--max-body", type=int, default=0, help="WARROOM_MAX_BODY_BYTES (0: the default)")
    args = ap.parse_args()
    extra = {"WARROOM_MAX_BODY_BYTES": str(args.max_body)} if args.max_body else {}
    extra |= {"WARROOM_MAX_INGEST_BODY_BYTES": str(args.max_body)} if args.max_body else {}
    extra |= {"WARROOM_INGEST_CHUNK_ALERTS": str(args.chunk)} if args.chunk else {}
    url = new_database(args.db, Path(tempfile.mkdtemp()))
    env = proc_env(url, WARROOM_INGEST_RATE_PER_S="1000000", WARROOM_INGEST_BURST="1000000", **extra)
    try:
        warroom_cli(["db", "upgrade"], env)
        warroom_cli(["user", "add", "bench", "--role", "admin"], env)
        user = warroom_cli(["token", "create", "--user", "bench"], env)
        ingest = warroom_cli(["token", "create", "--ingest", "bench"], env)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        cmd = [sys.executable, "-m", "warroom", "serve", "--port", str(port), "--no-worker", "--no-migrate"]
        with served(cmd, env, f"{base}/healthz") as proc:
            with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {user}"}, timeout=60) as c:
                refs = [
                    c.post("/api/v1/incidents", json={"services": [svc], "priority": "P2", "severity": "SEV-3"}).json()[
                        "id"
                    ]
                    for svc in (SERVICE, "sis")
                ]
            states = {ref: "active" for ref in refs}
            print(f"{args.db}: load {loadavg()} (a shared 2-core machine)", flush=True)
            quiet: list[tuple[str, float]] = []
            stop = threading.Event()
            human = threading.Thread(target=human_writes, args=(base, user, states, stop, quiet))
            human.start()
            time.sleep(2)
            stop.set()
            human.join()
            lat = [t for _, t in quiet]
            print(
                f"  no storm: {len(lat)} human writes: p50 {pct(lat, 50) * 1000:.0f} ms, "
                f"p99 {pct(lat, 99) * 1000:.0f} ms, max {max(lat) * 1000:.0f} ms",
                flush=True,
            )
            every: list[float] = []
            for storm in range(args.storms):
                body = Path(tempfile.mkdtemp()) / "storm.json"
                body.write_bytes(
                    json.dumps(storm_group(f"s{storm}-{uuid.uuid4().hex[:6]}", args.alerts, service=SERVICE)).encode()
                )
                writes: list[tuple[str, float]] = []
                stop = threading.Event()
                human = threading.Thread(target=human_writes, args=(base, user, states, stop, writes))
                human.start()
                time.sleep(0.2)  # writes already flowing when the storm arrives
                cpu0 = _cpu(proc.pid, url)
                t0 = time.perf_counter()
                # curl sends the storm: this process's GIL is left to the timed writes
                sent = subprocess.run(
                    [
                        "curl",
                        "-sS",
                        "-o",
                        str(body.with_suffix(".out")),
                        "-w",
                        "%{http_code}",
                        "-H",
                        f"Authorization: Bearer {ingest}",
                        "-H",
                        "Content-Type: application/json",
                        "--data-binary",
                        f"@{body}",
                        f"{base}/api/v1/ingest/alertmanager",
                    ],
                    capture_output=True,
                    text=True,
                    timeout=600,
                    check=False,
                )
                took = time.perf_counter() - t0
                cpu = [b - a for a, b in zip(cpu0, _cpu(proc.pid, url), strict=True)]
                stop.set()
                human.join()
                answer = body.with_suffix(".out").read_text()
                if sent.stdout != "202":
                    print(f"  storm {storm + 1}: {sent.stdout} {answer[:300]}", flush=True)
                    continue
                joined = sum(a["incident"] == refs[0] for a in json.loads(answer)["alerts"])
                lat = [t for _, t in writes]
                every += lat
                worst = max(writes, key=lambda w: w[1]) if writes else ("-", float("nan"))
                print(
                    f"  storm {storm + 1}: {args.alerts:,} alerts ({body.stat().st_size / 1e6:.1f} MB) "
                    f"in {took:.2f} s = "
                    f"{args.alerts / took:,.0f} alerts/s, {joined:,} joined {refs[0]}; "
                    f"{len(lat)} human writes meanwhile: p50 {pct(lat, 50) * 1000:.0f} ms, "
                    f"p99 {pct(lat, 99) * 1000:.0f} ms, max {worst[1] * 1000:.0f} ms ({worst[0]}); "
                    f"CPU s: server {cpu[0]:.2f}"
                    + (f", writer process {cpu[1]:.2f}, PostgreSQL {cpu[2]:.2f}" if len(cpu) > 2 else ""),
                    flush=True,
                )
            print(
                f"  all storms: {len(every)} human writes: p50 {pct(every, 50) * 1000:.0f} ms, "
                f"p99 {pct(every, 99) * 1000:.0f} ms, max {max(every, default=float('nan')) * 1000:.0f} ms; "
                f"over 0.5 s: {sum(t > 0.5 for t in every)}; load {loadavg()}",
                flush=True,
            )
    finally:
        drop_database(url)


if __name__ == "__main__":
    main()
