"""Memory of `warroom serve` under a flood of concurrent sign-ins (issue 19 item 8).

Starts `warroom serve --no-worker` on a fresh SQLite file with the default password KDF (argon2id,
RFC 9106 low-memory: 64 MiB per hash), then sends N sign-ins at once, each with its own made-up
X-Forwarded-For (an attacker spoofing addresses, or a botnet behind a trusted proxy) and its own
handle (so no per-handle limit applies; `--same-handle`: all as admin), and prints
the server's resident memory before, its peak (VmHWM) and the answers:

    PYTHONPATH=src python bench/login_memory.py --logins 40
    PYTHONPATH=src python bench/login_memory.py --logins 40 --trusted-proxies 127.0.0.1
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


def status_kb(pid: int, field: str) -> int:
    text = Path(f"/proc/{pid}/status").read_text()
    found = re.search(rf"^{field}:\s+(\d+) kB", text, re.M)
    return int(found.group(1)) if found else 0


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--logins", type=int, default=40)
    ap.add_argument("--trusted-proxies", default="", help="WARROOM_TRUSTED_PROXIES for the server")
    ap.add_argument("--kdf", default="rfc9106-low-memory")
    ap.add_argument("--same-handle", action="store_true", help="every sign-in as admin (default: a handle each)")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="warroom-login-"))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("WARROOM_")}
    env.update(
        WARROOM_DATABASE_URL=f"sqlite:///{tmp / 'w.db'}",
        WARROOM_PASSWORD_KDF=args.kdf,
        WARROOM_LOG_LEVEL="WARNING",
        PYTHONPATH=str(ROOT / "src"),
    )
    if args.trusted_proxies:
        env["WARROOM_TRUSTED_PROXIES"] = args.trusted_proxies
    log = open(tmp / "serve.log", "wb")  # noqa: SIM115 - the child's for its lifetime
    cmd = [sys.executable, "-m", "warroom", "serve", "--no-worker", "--port", str(port)]
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code in (200, 503):
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise SystemExit((tmp / "serve.log").read_text())
            time.sleep(0.1)
        clients = []
        for _ in range(args.logins):
            c = httpx.Client(base_url=url, timeout=120)
            csrf = re.search(r'name="csrf" value="([^"]+)"', c.get("/login").text)
            assert csrf, "no CSRF token on /login"
            clients.append((c, csrf.group(1)))
        time.sleep(0.5)
        rss0, hwm0 = status_kb(proc.pid, "VmRSS"), status_kb(proc.pid, "VmHWM")
        answers: collections.Counter[int] = collections.Counter()
        start = threading.Barrier(args.logins + 1)

        def login(i: int) -> None:
            c, token = clients[i]
            start.wait()
            r = c.post(
                "/login",
                data={"csrf": token, "handle": "admin" if args.same_handle else f"user{i}", "password": f"guess-{i}"},
                headers={"X-Forwarded-For": f"198.51.100.{i % 250 + 1}"},
            )
            answers[r.status_code] += 1

        threads = [threading.Thread(target=login, args=(i,)) for i in range(args.logins)]
        for t in threads:
            t.start()
        began = time.monotonic()
        start.wait()
        peak_rss = rss0
        while any(t.is_alive() for t in threads):
            peak_rss = max(peak_rss, status_kb(proc.pid, "VmRSS"))
            time.sleep(0.01)
        took = time.monotonic() - began
        hwm = status_kb(proc.pid, "VmHWM")
        print(
            f"{args.logins} concurrent sign-ins (kdf {args.kdf}, trusted proxies {args.trusted_proxies or 'none'}, "
            f"{'one handle' if args.same_handle else 'a handle each'}): "
            f"answers {dict(sorted(answers.items()))} in {took:.1f}s; server RSS before {rss0 / 1024:.0f} MB, "
            f"peak {max(hwm, peak_rss) / 1024:.0f} MB (VmHWM before {hwm0 / 1024:.0f} MB)"
        )
        for c, _ in clients:
            c.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


if __name__ == "__main__":
    main()
