"""Ingest benchmark: `warroom serve` in a subprocess, driven over loopback by wrk and an open-loop client.

For SQLite and PostgreSQL it prints alerts/s, p50/p99 latency and the server's CPU per alert for
new alerts, duplicate deliveries and Alertmanager batches of 100 (wrk, closed loop, the same
connections for every scenario), and the same client against a trivial FastAPI endpoint served
the same way (uvicorn, one process, no access log), with the ratio. Then new alerts are sent
open-loop (bench/openloop.c: request i is due at start + i/rate whatever came back, latency counted
from that planned time) at half the trivial endpoint's rate, the target load, after a warm-up, and
at any `--rates`. The trivial endpoint is measured again right before each database's runs (a
shared VM's speed drifts over minutes) and each database is judged against its own measurement;
`--repeat N` sends the target load N times and counts the runs with p99 under 50 ms. Needs
Debian's wrk and gcc.

    PYTHONPATH=src python bench/ingest.py [--seconds 8] [--connections 64] [--only sqlite]
        [--rates 3000,5000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
PG_ADMIN = os.environ.get("WARROOM_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
TRIVIAL = """
import sys, uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
app = FastAPI()
@app.post("/trivial")
async def trivial(request: Request) -> JSONResponse:
    await request.body()
    return JSONResponse({"status": "accepted"}, 202)
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)
"""
# A new alert per request (@KEY@ is unique): unknown impact in production, so each one is stored,
# triaged P3 with an escalation row, and looked up for an incident to join.
NEW_ALERT = (
    '{"alert_id":"@KEY@","cycle_key":"1","transition":"Triggered","alert_type":"error",'
    '"priority":"P3","title":"[Triggered] bench @KEY@","tags":"env:prod,service:sis",'
    '"link":"https://app.datadoghq.com/monitors/1","date":"1764770000000","id":"@KEY@"}'
)
WRK_NEW = """
counter = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
{auth}
local template = [[{body}]]
request = function()
  counter = counter + 1
  local key = string.format("%s-%d-%d", "{run}", math.random(1, 1000000000), counter)
  return wrk.format(nil, nil, nil, (template:gsub("@KEY@", key)))
end
"""
WRK_FIXED = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
{auth}
wrk.body = [[{body}]]
"""
WRK_BATCH = """
counter = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
{auth}
request = function()
  counter = counter + 1
  local parts = {{}}
  for i = 1, 100 do
    parts[i] = string.format('{{"status":"firing","fingerprint":"%s-%d-%d-%d","labels":{{"alertname":"Bench",'
      .. '"service":"ssoe","env":"staging","instance":"%d"}},"annotations":{{"summary":"bench %d"}},'
      .. '"startsAt":"2026-10-05T08:58:30Z","endsAt":"0001-01-01T00:00:00Z","generatorURL":"http://prom"}}',
      "{run}", math.random(1, 1000000000), counter, i, i, i)
  end
  local body = '{{"version":"4","status":"firing","receiver":"warroom","groupKey":"bench","truncatedAlerts":0,'
    .. '"groupLabels":{{}},"commonLabels":{{}},"commonAnnotations":{{}},"externalURL":"http://am:9093","alerts":['
    .. table.concat(parts, ",") .. ']}}'
  return wrk.format(nil, nil, nil, body)
end
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def descendants(pid: int) -> list[int]:
    """The process's children, theirs, and so on (Linux): `serve` on PostgreSQL stores alerts in
    a writer process of its own, and its CPU is part of the price."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            kids = [int(k) for k in (task / "children").read_text().split()]
        except OSError:
            continue
        for kid in kids:
            found += [kid, *descendants(kid)]
    return found


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process, its threads and its descendants (Linux): a price per
    request that does not depend on what else the box runs."""
    total = 0
    for one in [pid, *descendants(pid)]:
        try:
            fields = Path(f"/proc/{one}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone since it was listed
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


@contextmanager
def served(cmd: list[str], env: dict[str, str], health: str) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{cmd[:4]} exited with {proc.returncode}")
            try:
                httpx.get(health, timeout=1)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{health} did not come up") from None
                time.sleep(0.2)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wrk(
    url: str,
    script: str,
    *,
    seconds: float,
    connections: int,
    pid: int,
    per_request: int = 1,
) -> dict[str, float]:
    """wrk (C, one thread, closed loop): the client stays off the CPU the server needs."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(script)
    try:
        cpu0 = cpu_seconds(pid)
        out = subprocess.run(
            ["wrk", "-t1", f"-c{connections}", f"-d{seconds:.0f}s", "--latency", "-s", f.name, url],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        cpu = cpu_seconds(pid) - cpu0
    finally:
        os.unlink(f.name)

    def ms(label: str) -> float:
        for line in out.splitlines():
            if line.strip().startswith(label):
                value = line.split()[1]
                unit = next(u for u in ("us", "ms", "s") if value.endswith(u))
                return float(value.removesuffix(unit)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
        return float("nan")

    n = int(next(line.split()[0] for line in out.splitlines() if "requests in" in line))
    bad = sum(int(line.split()[-1]) for line in out.splitlines() if "Non-2xx" in line)
    bad += sum(
        int(x.split()[-1])
        for line in out.splitlines()
        if "Socket errors" in line
        for x in line.split(":", 1)[1].split(",")
    )
    rate = float(next(line.split()[1] for line in out.splitlines() if line.startswith("Requests/sec")))
    return {
        "requests": n,
        "errors": bad,
        "alerts_per_s": rate * per_request,
        "p50_ms": ms("50%"),
        "p99_ms": ms("99%"),
        "cpu_ms": cpu * 1000 / max(n * per_request, 1),
    }


def build_openloop(workdir: Path) -> Path:
    binary = workdir / "openloop"
    subprocess.run(["gcc", "-O2", "-o", str(binary), str(HERE / "openloop.c")], check=True)
    return binary


def open_loop(
    binary: Path,
    port: int,
    path: str,
    *,
    rate: float,
    seconds: float,
    connections: int,
    headers: list[str],
    pid: int,
    warmup: float = 2.0,
) -> dict[str, float]:
    """New alerts at a fixed rate; a warm-up at the same rate first, not counted."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        f.write(NEW_ALERT)
    try:

        def run(secs: float, prefix: str) -> dict[str, Any]:
            out = subprocess.run(
                [
                    str(binary),
                    "127.0.0.1",
                    str(port),
                    path,
                    str(rate),
                    str(secs),
                    str(connections),
                    f.name,
                    prefix,
                    *headers,
                ],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            return json.loads(out.strip().splitlines()[-1])  # type: ignore[no-any-return]

        if warmup:
            run(warmup, f"w{uuid.uuid4().hex[:6]}")
        cpu0 = cpu_seconds(pid)
        r = run(seconds, f"o{uuid.uuid4().hex[:6]}")
        cpu = cpu_seconds(pid) - cpu0
    finally:
        os.unlink(f.name)
    return {
        "requests": r["completed"],
        "errors": r["non2xx"] + r["errors"] + r["sent"] - r["completed"],
        "alerts_per_s": r["rate"],
        "p50_ms": r["p50_ms"],
        "p99_ms": r["p99_ms"],
        "p999_ms": r["p999_ms"],
        "max_ms": r["max_ms"],
        "cpu_ms": cpu * 1000 / max(r["completed"], 1),
    }


def show(label: str, r: dict[str, float]) -> None:
    extra = f"  p99.9 {r['p999_ms']:6.1f} ms  max {r['max_ms']:6.1f} ms" if "p999_ms" in r else ""
    print(
        f"  {label:<28} {r['alerts_per_s']:8.0f} alerts/s  p50 {r['p50_ms']:6.1f} ms  "
        f"p99 {r['p99_ms']:6.1f} ms{extra}  server CPU {r['cpu_ms']:5.3f} ms/alert  "
        f"requests {r['requests']:.0f}  errors {r['errors']:.0f}",
        flush=True,
    )


def warroom_cli(args: list[str], env: dict[str, str]) -> str:
    return subprocess.run(
        [sys.executable, "-m", "warroom", *args], env=env, text=True, capture_output=True, timeout=120, check=True
    ).stdout


def bench_warroom(
    db_url: str,
    args: argparse.Namespace,
    trivial: dict[str, float],
    openloop: Path,
) -> dict[str, dict[str, float]]:
    """Every scenario against one database; judged against `trivial`, measured just before."""
    target = trivial["alerts_per_s"] * 0.5  # the target load: half the trivial endpoint's rate
    env = {
        **os.environ,
        "WARROOM_DATABASE_URL": db_url,
        "WARROOM_LOG_LEVEL": "WARNING",
        # measure the server, not the per-token flood limit (500/s by default)
        "WARROOM_INGEST_RATE_PER_S": "1000000",
        "WARROOM_INGEST_BURST": "1000000",
    }
    warroom_cli(["db", "upgrade"], env)
    token = warroom_cli(["token", "create", "--ingest", "bench"], env).strip().splitlines()[-1]
    auth = f'wrk.headers["Authorization"] = "Bearer {token}"'
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "warroom", "serve", "--port", str(port), "--no-worker", "--no-migrate"]
    out: dict[str, dict[str, float]] = {}
    with served(cmd, env, f"{base}/healthz") as proc:
        processes = 1 + len(descendants(proc.pid))
        print(
            f"  server: {processes} process{'es' if processes > 1 else ''} "
            f"({'API + ingest writer' if processes > 1 else 'API with a writer thread'})",
            flush=True,
        )
        run = uuid.uuid4().hex[:6]
        datadog = f"{base}/api/v1/ingest/datadog"

        def scenario(name: str, fn: Callable[[], dict[str, float]]) -> dict[str, float]:
            out[name] = fn()
            show(name, out[name])
            return out[name]

        scenario(
            "new alert (wrk)",
            lambda: wrk(
                datadog,
                WRK_NEW.format(auth=auth, body=NEW_ALERT, run=run),
                seconds=args.seconds,
                connections=args.connections,
                pid=proc.pid,
            ),
        )

        def at(rate: float) -> dict[str, float]:
            return open_loop(
                openloop,
                port,
                "/api/v1/ingest/datadog",
                rate=rate,
                seconds=args.seconds,
                connections=args.connections,
                headers=[f"Authorization: Bearer {token}"],
                pid=proc.pid,
            )

        target_runs = [
            scenario(f"new alert @{target:.0f}/s (open loop)" if i == 1 else f"  again, run {i}", partial(at, target))
            for i in range(1, args.repeat + 1)
        ]
        for rate in args.rates:
            scenario(f"new alert @{rate:.0f}/s (open loop)", partial(at, rate))
        dup = NEW_ALERT.replace("@KEY@", f"{run}-dup")
        scenario(
            "duplicate (wrk)",
            lambda: wrk(
                datadog,
                WRK_FIXED.format(auth=auth, body=dup),
                seconds=args.seconds,
                connections=args.connections,
                pid=proc.pid,
            ),
        )
        scenario(
            "alertmanager x100 (wrk)",
            lambda: wrk(
                f"{base}/api/v1/ingest/alertmanager",
                WRK_BATCH.format(auth=auth, run=run),
                seconds=args.seconds,
                connections=max(2, args.connections // 8),
                pid=proc.pid,
                per_request=100,
            ),
        )
    p99s = ", ".join(f"{r['p99_ms']:.1f}" for r in target_runs)
    passed = sum(r["p99_ms"] < 50 and r["errors"] == 0 for r in target_runs)
    print(
        f"  new alert / trivial: {out['new alert (wrk)']['alerts_per_s'] / trivial['alerts_per_s']:.0%} by "
        f"rate (wrk, closed loop); at half the trivial rate ({target:.0f}/s, open loop) p99 {p99s} ms: "
        f"{passed} of {len(target_runs)} under 50 ms with no errors",
        flush=True,
    )
    return out


def bench_trivial(args: argparse.Namespace) -> dict[str, float]:
    port = free_port()
    with served([sys.executable, "-c", TRIVIAL, str(port)], dict(os.environ), f"http://127.0.0.1:{port}/docs") as proc:
        r = wrk(
            f"http://127.0.0.1:{port}/trivial",
            WRK_FIXED.format(auth="", body=NEW_ALERT),
            seconds=args.seconds,
            connections=args.connections,
            pid=proc.pid,
        )
    show("trivial endpoint (wrk)", r)
    return r


def pg_database() -> tuple[str, Callable[[], None]]:
    import sqlalchemy as sa

    from warroom.core.db import normalize_url

    name = f"warroom_bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(normalize_url(PG_ADMIN), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return PG_ADMIN.rsplit("/", 1)[0] + f"/{name}", drop


def writeback() -> str:
    """The kernel's dirty-page writeback settings (Linux): with the defaults PostgreSQL's commits
    stall for 40-100 ms every ~30 s under sustained ingest (bench/RESULTS.md), so print them."""
    vm = Path("/proc/sys/vm")
    try:
        values = {
            k: int((vm / k).read_text())
            for k in ("dirty_background_bytes", "dirty_background_ratio", "dirty_expire_centisecs")
        }
    except OSError:
        return "host writeback: unknown (not Linux)"
    background = (
        f"{values['dirty_background_bytes'] / 2**20:.0f} MB"
        if values["dirty_background_bytes"]
        else f"{values['dirty_background_ratio']}% of memory"
    )
    return (
        f"host writeback: background from {background}, dirty pages kept up to "
        f"{values['dirty_expire_centisecs'] / 100:.0f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--connections", type=int, default=64, help="wrk and open-loop connections")
    parser.add_argument("--only", choices=["sqlite", "postgres"])
    parser.add_argument(
        "--rates",
        type=lambda v: [float(x) for x in v.split(",")],
        default=[],
        metavar="R1,R2",
        help="also send new alerts open-loop at these rates (alerts/s)",
    )
    parser.add_argument("--repeat", type=int, default=1, help="send the target load this many times")
    parser.add_argument("--json", type=Path, help="write every figure to this file")
    args = parser.parse_args()
    for tool in ("wrk", "gcc"):
        if shutil.which(tool) is None:
            sys.exit(f"bench/ingest.py needs {tool} (apt-get install {tool})")
    print(
        f"{args.connections} connections, {args.seconds:.0f}s per scenario, cores {os.cpu_count()}; {writeback()}",
        flush=True,
    )
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        openloop = build_openloop(Path(tmp))
        for kind in ("sqlite", "postgres"):
            if args.only and args.only != kind:
                continue
            trivial = results[f"trivial before {kind}"] = bench_trivial(args)
            print(f"warroom on {kind}:", flush=True)
            if kind == "sqlite":
                results[kind] = bench_warroom(f"sqlite:///{Path(tmp) / 'bench.db'}", args, trivial, openloop)
            else:
                url, drop = pg_database()
                try:
                    results[kind] = bench_warroom(url, args, trivial, openloop)
                finally:
                    drop()
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
