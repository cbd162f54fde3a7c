"""Security headers and the rate limiter's arithmetic."""

from __future__ import annotations

import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.support import databases
from tests.support.procs import ApiProc, env_for
from tests.support.server import Running, http_client
from tests.support.web import login, make_web_user
from warroom.api.security import CSP
from warroom.core.ratelimit import Busy, RateLimiter, Slots


def test_headers(server: Running) -> None:
    with server.client() as c:
        r = c.get("/healthz")
        assert r.headers["x-content-type-options"] == "nosniff"
        docs = c.get("/docs")
        assert docs.headers["x-frame-options"] == "DENY"
        assert "frame-ancestors 'none'" in docs.headers["content-security-policy"]


def test_one_csp_set_in_one_place(server: Running) -> None:
    """Issue 17: api.security held one CSP (and a looser one for /docs), web.render another."""
    make_web_user(server, "alice")
    alice, _ = login(server, "alice")
    html = [alice.get(p) for p in ("/", "/incidents", "/policy", "/reports", "/incidents/INC-9")]
    with server.client() as anon:
        html += [anon.get("/docs"), anon.get("/status"), anon.get("/login")]
        others = [anon.get("/healthz"), anon.get("/api/v1/status"), anon.get("/static/app.css"), anon.get("/api/v1/me")]
        others.append(anon.post("/api/v1/ingest/datadog", json={}))  # answered by the webhook gate
    for r in html:
        assert r.headers["content-type"].startswith("text/html"), r.url
        assert r.headers.get_list("content-security-policy") == [CSP], r.url
        assert r.headers["x-frame-options"] == "DENY", r.url
    for r in html + others:
        assert r.headers.get_list("x-content-type-options") == ["nosniff"], r.url
        assert r.headers.get_list("referrer-policy") == ["same-origin"], r.url
    assert "unsafe-inline" not in CSP and "http" not in CSP  # nothing inline, nothing from another site
    docs = html[5].text
    assert "cdn" not in docs and "<script>" not in docs and "/static/swagger-ui-bundle.js" in docs


def test_rate_limiter_buckets() -> None:
    now = [0.0]
    limiter = RateLimiter(rate_per_s=2, burst=3, clock=lambda: now[0])
    assert [limiter.hit("a") for _ in range(3)] == [0, 0, 0]
    wait = limiter.hit("a")
    assert 0.49 < wait <= 0.5
    assert limiter.hit("b") == 0  # keys are independent
    now[0] += 0.5
    assert limiter.hit("a") == 0
    assert limiter.hit("a") > 0


def test_ingest_and_login_rate_limits(engine, db_url, policy, clock) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import start_server

    running = start_server(
        engine, db_url, policy, clock, ingest_burst=3, ingest_rate_per_s=0.01, login_burst=2, login_rate_per_min=0.1
    )
    try:
        with running.admin() as c:
            ingest = c.post("/api/v1/tokens", json={"kind": "ingest", "name": "any-source"}).json()["token"]
        with running.client(ingest) as c:
            codes = [
                c.post(
                    "/api/v1/ingest/events",
                    json={
                        "routing_key": ingest,
                        "event_action": "trigger",
                        "dedup_key": f"k{i}",
                        "payload": {"summary": "x", "source": "h", "severity": "info"},
                    },
                ).status_code
                for i in range(5)
            ]
            assert codes[:3] == [202, 202, 202] and codes[3:] == [429, 429], codes
            r = c.post("/api/v1/ingest/events", json={})
            assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
        with running.client() as web:
            statuses = []
            for _ in range(3):
                page = web.get("/login")
                csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
                assert csrf, page.text[:500]
                statuses.append(
                    web.post(
                        "/login", data={"csrf": csrf.group(1), "handle": "admin", "password": "wrong-password"}
                    ).status_code
                )
            assert statuses == [401, 401, 429], statuses
    finally:
        running.server.stop()


# --- Sign-in under attack (issue 19 item 8): real `warroom serve` processes ----------------------

ADMIN_PASSWORD = re.compile(r"Web password \(shown once\): (\S+)")
FLOOD = {"WARROOM_LOGIN_BURST": "2", "WARROOM_LOGIN_RATE_PER_MIN": "0.1"}  # no refill within a test


def _serve(db_url: str, tmp_path: Path, name: str, **env: str) -> ApiProc:
    return ApiProc(env_for(db_url, WARROOM_PASSWORD_KDF="owasp-minimum", **env), tmp_path / f"{name}.log").start()


def _sign_in(api: ApiProc, handle: str, password: str, forwarded_for: str | None = None) -> httpx.Response:
    with http_client(base_url=api.url, timeout=60) as c:
        csrf = re.search(r'name="csrf" value="([^"]+)"', c.get("/login").text)
        assert csrf
        headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
        return c.post("/login", data={"csrf": csrf.group(1), "handle": handle, "password": password}, headers=headers)


@pytest.mark.slow
def test_forwarded_for_is_believed_only_from_trusted_proxies(db_url: str, tmp_path: Path) -> None:
    """By default the peer is the client: a made-up X-Forwarded-For per attempt does not escape
    the per-address limit (uvicorn believed it from 127.0.0.1)."""
    api = _serve(db_url, tmp_path, "plain", **FLOOD)
    try:
        codes = [_sign_in(api, f"nobody{i}", "wrong-password", f"203.0.113.{i}").status_code for i in range(3)]
        assert codes == [401, 401, 429], codes
    finally:
        api.stop()


@pytest.mark.slow
def test_a_guesser_cannot_lock_admin_out(db_url: str, tmp_path: Path) -> None:
    """Behind a trusted proxy its X-Forwarded-For names the client; failing as `admin` from one
    address slows that address, not the real admin elsewhere."""
    api = _serve(db_url, tmp_path, "proxied", WARROOM_TRUSTED_PROXIES="127.0.0.0/8", **FLOOD)
    try:
        found = ADMIN_PASSWORD.search(api.log())
        assert found, api.log()
        codes = [_sign_in(api, f"other{i}", "wrong-password", f"198.51.100.{i}").status_code for i in range(3)]
        assert codes == [401, 401, 401], codes  # three addresses, three buckets
        codes = [_sign_in(api, "admin", f"guess-{i}", "203.0.113.66").status_code for i in range(4)]
        assert codes == [401, 401, 429, 429], codes
        assert _sign_in(api, "admin", found.group(1), "203.0.113.66").status_code == 429  # that address waits
        signed_in = _sign_in(api, "admin", found.group(1), "198.51.100.10")
        assert signed_in.status_code == 303 and signed_in.headers["location"] == "/", signed_in.text[:300]
    finally:
        api.stop()


def _kb(pid: int, field: str) -> int:
    found = re.search(rf"^{field}:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text(), re.M)
    assert found
    return int(found.group(1))


@pytest.mark.slow
def test_concurrent_password_checks_are_bounded(sqlite_template: Path, tmp_path: Path) -> None:
    """Twelve sign-ins at once from twelve addresses with the default argon2id (64 MiB each):
    at most WARROOM_PASSWORD_CONCURRENCY (2) hashes run at once, the rest wait or get 503. Before,
    each ran at once: 40 took a server from 185 MB to 1.7 GB (bench/login_memory.py)."""
    db_url = databases.fresh_sqlite(sqlite_template, tmp_path)  # memory is the point, not the database
    env = env_for(db_url, WARROOM_TRUSTED_PROXIES="127.0.0.1", WARROOM_LOGIN_BURST="100")
    env["WARROOM_PASSWORD_KDF"] = "rfc9106-low-memory"
    api = ApiProc(env, tmp_path / "api.log").start()
    try:
        assert api.popen is not None
        clients = []
        for _ in range(12):
            c = http_client(base_url=api.url, timeout=60)
            csrf = re.search(r'name="csrf" value="([^"]+)"', c.get("/login").text)
            assert csrf
            clients.append((c, csrf.group(1)))
        before = _kb(api.popen.pid, "VmRSS")
        go = threading.Barrier(len(clients))

        def sign_in(i: int) -> httpx.Response:
            c, csrf = clients[i]
            go.wait()
            return c.post(
                "/login",
                data={"csrf": csrf, "handle": f"user{i}", "password": "wrong-password"},
                headers={"X-Forwarded-For": f"198.51.100.{i + 1}"},
            )

        with ThreadPoolExecutor(len(clients)) as pool:
            answers = list(pool.map(sign_in, range(len(clients))))
        peak = _kb(api.popen.pid, "VmHWM")
        for c, _ in clients:
            c.close()
    finally:
        api.stop()
    assert {r.status_code for r in answers} <= {401, 503}, [r.status_code for r in answers]
    assert any(r.status_code == 401 for r in answers)
    assert all(r.headers.get("retry-after") for r in answers if r.status_code == 503)
    grew_mib = (peak - before) / 1024
    assert grew_mib < 4 * 64, f"the server grew by {grew_mib:.0f} MiB for 12 sign-ins"


def test_slots_bound_holders_and_waiters() -> None:
    slots = Slots(1, waiting=1, wait=5.0)
    holding, release, order = threading.Event(), threading.Event(), []

    def hold(name: str) -> None:
        with slots.hold():
            order.append(name)
            holding.set()
            release.wait(5)

    first = threading.Thread(target=hold, args=("first",))
    first.start()
    assert holding.wait(5)
    holding.clear()
    second = threading.Thread(target=hold, args=("second",))
    second.start()
    deadline = time.monotonic() + 5
    while slots._waiting < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    with pytest.raises(Busy), slots.hold():  # one holds, one waits: the third is refused at once
        pass
    release.set()
    first.join(5)
    second.join(5)
    assert order == ["first", "second"]
    impatient = Slots(1, waiting=4, wait=0.05)
    with impatient.hold(), pytest.raises(Busy), impatient.hold():  # no slot within the wait
        pass


def test_trusted_proxies_must_be_addresses() -> None:
    from pydantic import ValidationError

    from warroom.core.settings import Settings
    from warroom.main import uvicorn_options

    assert uvicorn_options(Settings())["proxy_headers"] is False
    opts = uvicorn_options(Settings(trusted_proxies="10.0.0.5, 10.1.0.0/16"))
    assert opts["proxy_headers"] is True and opts["forwarded_allow_ips"] == ["10.0.0.5", "10.1.0.0/16"]
    with pytest.raises(ValidationError, match="not an IP address"):
        Settings(trusted_proxies="nginx.internal")
