"""Ingest benchmark: `warroom serve` in a subprocess, concurrent httpx clients over loopback.

Prints alerts/s and p50/p99 latency for new alerts, duplicate deliveries and Alertmanager
batches of 100, on SQLite and PostgreSQL, and the same client against a trivial FastAPI
endpoint served the same way (uvicorn, one process, no access log), with the ratio; then new
alerts sent open-loop at half the trivial endpoint's rate (the target load) for the p99 there,
and each scenario's server CPU per alert (load-independent, unlike rates on a shared box).

    PYTHONPATH=src python bench/ingest.py [--seconds 5] [--clients 16] [--only sqlite] [--wrk 16]
                                          [--rates 100,200,400]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

PG_ADMIN = os.environ.get("WARROOM_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
TRIVIAL = """
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
app = FastAPI()
@app.post("/trivial")
async def trivial(request: Request) -> JSONResponse:
    await request.body()
    return JSONResponse({"status": "accepted"}, 202)
uvicorn.run(app, host="127.0.0.1", port={port}, log_level="warning", access_log=False)
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_up(url: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


def warroom(args: list[str], env: dict[str, str], **kw: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "warroom", *args], env=env, text=True,
                          capture_output=True, timeout=120, check=True, **kw)


def dd_body(key: str) -> dict[str, Any]:
    return {"alert_id": key, "cycle_key": "1", "transition": "Triggered", "alert_type": "error",
            "priority": "P3", "title": f"[Triggered] bench {key}", "tags": "env:prod,service:sis",
            "link": "https://app.datadoghq.com/monitors/1", "date": str(int(time.time() * 1000)),
            "id": key}


def new_bodies(prefix: str) -> Callable[[int], bytes]:
    return lambda i: json.dumps(dd_body(f"{prefix}-{i}")).encode()


def am_batch(prefix: str, n: int = 100) -> dict[str, Any]:
    return {"version": "4", "status": "firing", "receiver": "warroom", "groupKey": prefix,
            "truncatedAlerts": 0, "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {},
            "externalURL": "http://am:9093",
            "alerts": [{"status": "firing", "fingerprint": f"{prefix}-{i}",
                        "labels": {"alertname": "Bench", "service": "ssoe", "env": "staging",
                                   "instance": str(i)},
                        "annotations": {"summary": f"bench {i}"},
                        "startsAt": "2026-10-05T08:58:30Z", "endsAt": "0001-01-01T00:00:00Z",
                        "generatorURL": "http://prom"} for i in range(n)]}


def cpu_seconds(pid: int) -> float:
    """User + system CPU of one process (Linux), to price a request whatever the client costs."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


WRK_NEW = """
counter = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
{auth}
request = function()
  counter = counter + 1
  local key = string.format("%s-%d-%d", "{run}", math.random(1, 1000000000), counter)
  local body = '{{"alert_id":"' .. key .. '","cycle_key":"1","transition":"Triggered","alert_type":"error",'
    .. '"priority":"P3","title":"[Triggered] bench ' .. key .. '","tags":"env:prod,service:sis",'
    .. '"link":"https://app.datadoghq.com/monitors/1","date":"1764770000000","id":"' .. key .. '"}}'
  return wrk.format(nil, nil, nil, body)
end
"""


def drive_wrk(url: str, *, seconds: float, connections: int, token: str | None, pid: int,
              run: str) -> dict[str, float]:
    """The same load from wrk (C, one thread): the client no longer competes for the GIL-bound
    Python cores the way httpx does, so the server's own capacity shows."""
    auth = f'wrk.headers["Authorization"] = "Bearer {token}"' if token else ""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(WRK_NEW.format(auth=auth, run=run))
    cpu0 = cpu_seconds(pid)
    out = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{seconds:.0f}s", "--latency", "-s",
                          script.name, url], capture_output=True, text=True, check=True).stdout
    cpu = cpu_seconds(pid) - cpu0
    os.unlink(script.name)

    def ms(label: str) -> float:
        for line in out.splitlines():
            if line.strip().startswith(label):
                value = line.split()[1]
                scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}
                unit = next(u for u in ("us", "ms", "s") if value.endswith(u))
                return float(value.removesuffix(unit)) * scale[unit]
        return float("nan")

    n = int(next(line.split()[0] for line in out.splitlines() if "requests in" in line))
    bad = sum(int(line.split()[-1]) for line in out.splitlines() if "Non-2xx" in line)
    rate = float(next(line.split()[1] for line in out.splitlines() if line.startswith("Requests/sec")))
    return {"requests": n, "errors": bad, "alerts_per_s": rate, "p50_ms": ms("50%"), "p99_ms": ms("99%"),
            "cpu_ms": cpu * 1000 / max(n, 1)}


async def drive(url: str, make_body: Callable[[int], bytes], *, seconds: float, clients: int,
                headers: dict[str, str], per_request: int = 1, pid: int | None = None,
                ) -> dict[str, float]:
    latencies: list[float] = []
    errors = 0
    counter = 0
    stop = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(limits=limits, timeout=30, headers=headers) as client:

        async def worker() -> None:
            nonlocal errors, counter
            while time.perf_counter() < stop:
                counter += 1
                body = make_body(counter)
                t0 = time.perf_counter()
                try:
                    r = await client.post(url, content=body)
                    ok = r.status_code == 202
                except httpx.HTTPError:
                    ok = False
                latencies.append(time.perf_counter() - t0)
                errors += not ok

        t_start = time.perf_counter()
        cpu0 = cpu_seconds(pid) if pid else 0.0
        await asyncio.gather(*(worker() for _ in range(clients)))
        elapsed = time.perf_counter() - t_start
        cpu = cpu_seconds(pid) - cpu0 if pid else 0.0
    latencies.sort()
    n = len(latencies)
    return {"requests": n, "errors": errors, "alerts_per_s": n * per_request / elapsed,
            "p50_ms": statistics.median(latencies) * 1000,
            "p99_ms": latencies[min(n - 1, int(n * 0.99))] * 1000,
            "cpu_ms": cpu * 1000 / max(n * per_request, 1)}


async def _open_loop_conn(host: str, port: int, queue: asyncio.Queue[tuple[float, bytes] | None],
                          latencies: list[float], errors: list[int]) -> None:
    """One keep-alive connection: send a queued request, read its answer, note the lateness."""
    reader, writer = await asyncio.open_connection(host, port)
    while (item := await queue.get()) is not None:
        planned, request = item
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                       if line.lower().startswith(b"content-length:")), 0)
        await reader.readexactly(length)
        latencies.append(time.perf_counter() - planned)
        if int(head.split(b" ", 2)[1]) != 202:
            errors.append(int(head.split(b" ", 2)[1]))
    writer.close()


async def drive_rate(url: str, make_body: Callable[[int], bytes], *, rate: float, seconds: float,
                     headers: dict[str, str], pid: int | None = None, connections: int = 64,
                     ) -> dict[str, float]:
    """Open loop: request i is queued at start + i/rate whatever came back, and its latency counts
    from that planned time, so a stall shows in the tail instead of slowing the sender. Raw HTTP/1.1
    over asyncio streams (~0.3 ms of client CPU a request): an httpx client with hundreds of
    connections cost more CPU than the server and measured itself."""
    parts = httpx.URL(url)
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    queue: asyncio.Queue[tuple[float, bytes] | None] = asyncio.Queue()
    latencies: list[float] = []
    errors: list[int] = []
    conns = [asyncio.create_task(_open_loop_conn(parts.host, parts.port or 80, queue, latencies, errors))
             for _ in range(connections)]
    total = int(rate * seconds)
    start = time.perf_counter()
    cpu0 = cpu_seconds(pid) if pid else 0.0
    for i in range(total):
        body = make_body(i)
        request = (f"POST {parts.raw_path.decode()} HTTP/1.1\r\nHost: {parts.host}\r\n{head}"
                   f"Content-Length: {len(body)}\r\n\r\n").encode() + body
        planned = start + i / rate
        if (delay := planned - time.perf_counter()) > 0:
            await asyncio.sleep(delay)
        queue.put_nowait((planned, request))
    for _ in conns:
        queue.put_nowait(None)
    await asyncio.gather(*conns)
    elapsed = time.perf_counter() - start
    cpu = cpu_seconds(pid) - cpu0 if pid else 0.0
    latencies.sort()
    n = len(latencies)
    return {"requests": n, "errors": len(errors), "alerts_per_s": n / elapsed,
            "p50_ms": statistics.median(latencies) * 1000,
            "p99_ms": latencies[min(n - 1, int(n * 0.99))] * 1000, "cpu_ms": cpu * 1000 / n}


def show(label: str, r: dict[str, float]) -> None:
    print(f"  {label:<22} {r['alerts_per_s']:8.0f} alerts/s  p50 {r['p50_ms']:6.1f} ms  "
          f"p99 {r['p99_ms']:6.1f} ms  server CPU {r['cpu_ms']:5.2f} ms/alert  "
          f"requests {r['requests']:.0f}  errors {r['errors']:.0f}",
          flush=True)


def bench_warroom(db_url: str, args: argparse.Namespace, rate: float,
                  ) -> dict[str, dict[str, float]]:
    env = {**os.environ, "WARROOM_DATABASE_URL": db_url, "WARROOM_LOG_LEVEL": "WARNING",
           "WARROOM_INGEST_RATE_PER_S": "1000000", "WARROOM_INGEST_BURST": "1000000"}  # measure, not throttle
    warroom(["db", "upgrade"], env)
    token = warroom(["token", "create", "--ingest", "bench"], env).stdout.strip().splitlines()[-1]
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "warroom", "serve", "--port", str(port),
                             "--no-worker", "--no-migrate"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_up(f"{base}/healthz", proc)
        headers = {"Authorization": f"Bearer {token}", "content-type": "application/json"}
        run = uuid.uuid4().hex[:6]
        out: dict[str, dict[str, float]] = {}
        out["new alert"] = asyncio.run(drive(
            f"{base}/api/v1/ingest/datadog", lambda i: json.dumps(dd_body(f"{run}-{i}")).encode(),
            seconds=args.seconds, clients=args.clients, headers=headers, pid=proc.pid))
        show("new alert", out["new alert"])
        out["new alert, fixed rate"] = asyncio.run(drive_rate(
            f"{base}/api/v1/ingest/datadog", lambda i: json.dumps(dd_body(f"{run}-r{i}")).encode(),
            rate=rate, seconds=args.seconds, headers=headers, pid=proc.pid))
        show(f"new alert @{rate:.0f}/s", out["new alert, fixed rate"])
        for n, extra in enumerate(args.rates):
            out[f"new alert @{extra:.0f}/s"] = asyncio.run(drive_rate(
                f"{base}/api/v1/ingest/datadog", new_bodies(f"{run}-s{n}"),
                rate=extra, seconds=args.seconds, headers=headers, pid=proc.pid))
            show(f"new alert @{extra:.0f}/s", out[f"new alert @{extra:.0f}/s"])
        if args.wrk:
            out["new alert, wrk"] = drive_wrk(f"{base}/api/v1/ingest/datadog", seconds=args.seconds,
                                              connections=args.wrk, token=token, pid=proc.pid, run=run)
            show(f"new alert, wrk -c{args.wrk}", out["new alert, wrk"])
        dup = json.dumps(dd_body(f"{run}-dup")).encode()
        out["duplicate"] = asyncio.run(drive(
            f"{base}/api/v1/ingest/datadog", lambda i: dup, seconds=args.seconds,
            clients=args.clients, headers=headers, pid=proc.pid))
        show("duplicate", out["duplicate"])
        out["alertmanager x100"] = asyncio.run(drive(
            f"{base}/api/v1/ingest/alertmanager",
            lambda i: json.dumps(am_batch(f"{run}-b{i}")).encode(), seconds=args.seconds,
            clients=max(1, args.clients // 4), headers=headers, per_request=100,
            pid=proc.pid))
        show("alertmanager x100", out["alertmanager x100"])
        return out
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def bench_trivial(args: argparse.Namespace) -> dict[str, dict[str, float]]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-c", TRIVIAL.replace("{port}", str(port))],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_up(f"{base}/docs", proc)
        body = json.dumps(dd_body("trivial")).encode()
        r = asyncio.run(drive(f"{base}/trivial", lambda i: body, seconds=args.seconds,
                              clients=args.clients, headers={"content-type": "application/json"},
                              pid=proc.pid))
        show("trivial endpoint", r)
        out = {"httpx": r}
        if args.wrk:
            w = drive_wrk(f"{base}/trivial", seconds=args.seconds, connections=args.wrk, token=None,
                          pid=proc.pid, run="t")
            show(f"trivial, wrk -c{args.wrk}", w)
            out["wrk"] = w
        return out
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def pg_database() -> tuple[str, Callable[[], None]]:
    import sqlalchemy as sa

    from warroom.db import normalize_url

    name = f"warroom_bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(normalize_url(PG_ADMIN), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return PG_ADMIN.rsplit("/", 1)[0] + f"/{name}", drop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--only", choices=["sqlite", "postgres"])
    parser.add_argument("--wrk", type=int, default=0, metavar="CONNECTIONS",
                        help="also drive new alerts and the trivial endpoint with wrk (Debian's wrk)")
    parser.add_argument("--rates", type=lambda v: [float(x) for x in v.split(",")], default=[],
                        metavar="R1,R2", help="also send new alerts open-loop at these rates (alerts/s)")
    args = parser.parse_args()
    print(f"clients {args.clients}, {args.seconds:.0f}s per scenario, cores {os.cpu_count()}")
    trivial = bench_trivial(args)
    rate = trivial["httpx"]["alerts_per_s"] * 0.5  # the target load: half the trivial endpoint's rate
    for kind in ("sqlite", "postgres"):
        if args.only and args.only != kind:
            continue
        print(f"warroom on {kind}:", flush=True)
        if kind == "sqlite":
            with tempfile.TemporaryDirectory() as tmp:
                results = bench_warroom(f"sqlite:///{Path(tmp) / 'bench.db'}", args, rate)
        else:
            url, drop = pg_database()
            try:
                results = bench_warroom(url, args, rate)
            finally:
                drop()
        ratio = results["new alert"]["alerts_per_s"] / trivial["httpx"]["alerts_per_s"]
        cost = trivial["httpx"]["cpu_ms"] / max(results["new alert"]["cpu_ms"], 1e-9)
        print(f"  ratio new-alert / trivial: {ratio:.0%} by rate, {cost:.0%} by server CPU per "
              "request", flush=True)
        if args.wrk:
            w, tw = results["new alert, wrk"], trivial["wrk"]
            print(f"  ratio with wrk: {w['alerts_per_s'] / tw['alerts_per_s']:.0%} by rate, "
                  f"{tw['cpu_ms'] / max(w['cpu_ms'], 1e-9):.0%} by server CPU per request", flush=True)


if __name__ == "__main__":
    main()
