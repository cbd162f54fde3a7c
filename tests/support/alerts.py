"""Helpers for alert tests: fixture payloads, an ingest token, sending, running due jobs."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import httpx

from tests.support.server import Running
from tests.support.wired import run_due

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "alerts"


def payload(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return copy.deepcopy(data)


def ingest_token(server: Running, name: str = "tests") -> str:
    with server.admin() as c:
        r = c.post("/api/v1/tokens", json={"kind": "ingest", "name": name})
        assert r.status_code == 201, r.text
        token: str = r.json()["token"]
        return token


def send(
    server: Running,
    token: str | None,
    source: str,
    body: Any,
    *,
    method: str = "POST",
    raw: bytes | None = None,
    **kw: Any,
) -> httpx.Response:
    with server.client(token) as c:
        content = raw if raw is not None else json.dumps(body).encode()
        return c.request(
            method, f"/api/v1/ingest/{source}", content=content, headers={"content-type": "application/json"}, **kw
        )


def accepted(server: Running, token: str, source: str, body: Any, **kw: Any) -> dict[str, Any]:
    r = send(server, token, source, body, **kw)
    assert r.status_code == 202, r.text
    out: dict[str, Any] = r.json()
    return out


def alerts(server: Running, **params: Any) -> dict[str, Any]:
    with server.admin() as c:
        r = c.get("/api/v1/alerts", params=params)
        assert r.status_code == 200, r.text
        out: dict[str, Any] = r.json()
        return out


def incidents(server: Running) -> list[dict[str, Any]]:
    with server.admin() as c:
        items: list[dict[str, Any]] = c.get("/api/v1/incidents").json()["items"]
        return items


def incident(server: Running, ref: str) -> dict[str, Any]:
    with server.admin() as c:
        out: dict[str, Any] = c.get(f"/api/v1/incidents/{ref}").json()
        return out


def timeline(server: Running, ref: str) -> list[dict[str, Any]]:
    """The whole timeline, page by page."""
    out: list[dict[str, Any]] = []
    with server.admin() as c:
        while True:
            page = c.get(f"/api/v1/incidents/{ref}/timeline", params={"page": len(out) // 1000 + 1, "per_page": 1000})
            assert page.status_code == 200, page.text
            out += page.json()["items"]
            if len(out) >= page.json()["total"] or not page.json()["items"]:
                return out


def run_jobs(server: Running) -> int:
    state = server.state
    return run_due(state.sessions, state.policy, state.clock)


def dd(
    transition: str = "Triggered",
    *,
    alert_id: str = "48213771",
    cycle: str = "6922405214862131415",
    tags: str = "env:eks-prod,service:sis,team:identity",
    event_id: str | None = None,
) -> dict[str, Any]:
    """The recommended Datadog body for one transition of one monitor cycle."""
    body = payload("datadog_rich_triggered")
    scope = ",".join(t for t in tags.split(",") if t.startswith(("env:", "service:")))
    body.update(
        scope=scope,
        alert_id=alert_id,
        cycle_key=cycle,
        transition=transition,
        tags=tags,
        alert_type="success" if transition == "Recovered" else "error",
        title=f"[P2] [{transition} on {{{scope}}}] SiS sign-in error rate high",
        id=event_id or f"{alert_id}-{cycle}-{transition}",
    )
    return body


def storm_group(prefix: str, n: int, service: str = "csp", env: str = "prod") -> dict[str, Any]:
    """An Alertmanager v4 group of n new firing alerts of one service and environment (~4.8 MB for
    10,000): the storm the storm tests and `bench/storm_request.py` send."""
    return {
        "version": "4",
        "status": "firing",
        "receiver": "warroom",
        "groupKey": f'{{}}:{{alertname="Storm", run="{prefix}"}}',
        "truncatedAlerts": 0,
        "groupLabels": {"alertname": "Storm"},
        "commonLabels": {"alertname": "Storm", "service": service, "env": env},
        "commonAnnotations": {"summary": f"{service} sign-ins failing"},
        "externalURL": "http://alertmanager:9093",
        "alerts": [
            {
                "status": "firing",
                "fingerprint": f"{prefix}-{i:06d}",
                "labels": {
                    "alertname": "Storm",
                    "service": service,
                    "env": env,
                    "instance": f"{service}-{i}.internal:9100",
                    "pod": f"{service}-{i:010x}",
                    "severity": "warning",
                },
                "annotations": {
                    "summary": f"{service} sign-ins failing on instance {i}",
                    "runbook_url": "https://runbooks.example/csp-signins",
                },
                "startsAt": "2026-10-05T08:58:30Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://prometheus:9090/graph?g0.expr=rate%28errors%5B5m%5D%29",
            }
            for i in range(n)
        ],
    }
