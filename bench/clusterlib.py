"""Shared pieces of the cluster and memory benchmarks: databases, processes, RSS, load, bodies."""

from __future__ import annotations

import json
import os
import random
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from tests.support import databases

from warroom.core.db import normalize_url


def pct(values: list[float], p: float) -> float:
    """Nearest-rank percentile (nan when empty)."""
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))] if values else float("nan")


def summary(values: list[float], unit: float = 1.0) -> str:
    if not values:
        return "n=0"
    return (
        f"n={len(values)} p50={pct(values, 50) * unit:.3f} p99={pct(values, 99) * unit:.3f} "
        f"max={max(values) * unit:.3f} mean={statistics.fmean(values) * unit:.3f}"
    )


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def rss_mb(pid: int) -> float:
    """Resident set size of one process (VmRSS), MB; nan once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def new_database(kind: str, tmp: Path) -> str:
    """A fresh empty database: a SQLite file in tmp or a new PostgreSQL database."""
    if kind == "sqlite":
        return f"sqlite:///{tmp / f'bench-{uuid.uuid4().hex[:6]}.db'}"
    return databases.create_pg_database()


def drop_database(url: str) -> None:
    if url.startswith("postgresql"):
        databases.drop_pg_database(url)


def db_size(url: str) -> dict[str, str]:
    """Whole database and the alert tables (with indexes), human readable."""
    if url.startswith("sqlite"):
        path = Path(url.removeprefix("sqlite:///"))
        total = sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))
        return {"database": f"{total / 2**20:.0f} MB (file + WAL)"}
    engine = sa.create_engine(normalize_url(url))
    out: dict[str, str] = {}
    with engine.connect() as conn:
        out["database"] = str(conn.scalar(sa.text("SELECT pg_size_pretty(pg_database_size(current_database()))")))
        for table in ("alerts", "alert_events", "incidents", "timeline_entries"):
            out[table] = str(conn.scalar(sa.text(f"SELECT pg_size_pretty(pg_total_relation_size('{table}'))")))
    engine.dispose()
    return out


def warroom_cli(args: list[str], env: dict[str, str]) -> str:
    """Run `python -m warroom ARGS` and return the last line of its output (a token, say)."""
    done = subprocess.run(
        [sys.executable, "-m", "warroom", *args], env=env, text=True, capture_output=True, timeout=300, check=True
    )
    return done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""


# ---- realistic alert bodies --------------------------------------------------------------

SERVICES = ["usip", "ssoe", "sis", "tou", "csp", "mpi", "billing-api"]  # the last one is unmapped
ENVS = ["prod", "eks-prod", "production", "staging", "staging", "dev"]


def dd_body(
    rng: random.Random,
    key: str,
    transition: str = "Triggered",
    *,
    env: str | None = None,
    service: str | None = None,
    users: int | None = None,
) -> dict[str, Any]:
    """A Datadog rich-template body (docs/alerts.md) for one monitor cycle."""
    env = env or rng.choice(ENVS)
    service = service or rng.choice(SERVICES)
    tags = f"env:{env},service:{service},team:identity,monitor"
    if users is not None:
        tags += f",users_per_hour:{users}"
    scope = f"env:{env},service:{service}"
    now_ms = str(int(time.time() * 1000))
    return {
        "alert_id": key,
        "cycle_key": "1",
        "aggreg_key": key[-12:],
        "transition": transition,
        "alert_type": "success" if transition == "Recovered" else "error",
        "priority": "P3",
        "status": "OK" if transition == "Recovered" else "Alert",
        "title": f"[P3] [{transition} on {{{scope}}}] {service} error rate high ({key})",
        "alert_title": f"{service} error rate high",
        "event_msg": f"Error rate above 5% on {service}.",
        "tags": tags,
        "scope": scope,
        "link": f"https://app.datadoghq.com/monitors/{key}",
        "date": now_ms,
        "last_updated": now_ms,
        "id": f"{key}-{transition}",
        "hostname": "",
        "org": {"id": "123456", "name": "Identity Team"},
    }


def am_body(rng: random.Random, prefix: str, n: int, status: str = "firing") -> dict[str, Any]:
    """An Alertmanager v4 group with n alerts."""
    service = rng.choice(SERVICES)
    env = rng.choice(ENVS)
    return {
        "version": "4",
        "status": status,
        "receiver": "warroom",
        "groupKey": f"{{}}:{prefix}",
        "truncatedAlerts": 0,
        "groupLabels": {"alertname": "HighLatency"},
        "commonLabels": {"alertname": "HighLatency", "service": service, "env": env},
        "commonAnnotations": {"summary": f"{service} p99 latency high"},
        "externalURL": "http://alertmanager:9093",
        "alerts": [
            {
                "status": status,
                "fingerprint": f"{prefix}-{i}",
                "labels": {
                    "alertname": "HighLatency",
                    "service": service,
                    "env": env,
                    "instance": f"{service}-{i}.internal:9100",
                    "severity": "page",
                },
                "annotations": {
                    "summary": f"{service} p99 latency high on instance {i}",
                    "runbook_url": "https://runbooks/latency",
                },
                "startsAt": "2026-10-05T08:58:30Z",
                "endsAt": "0001-01-01T00:00:00Z" if status == "firing" else "2026-10-05T09:10:00Z",
                "generatorURL": "http://prometheus:9090/graph",
            }
            for i in range(n)
        ],
    }


def events_body(rng: random.Random, key: str, action: str, token: str) -> dict[str, Any]:
    """A PagerDuty Events v2 shaped event."""
    service = rng.choice(SERVICES)
    return {
        "routing_key": token,
        "event_action": action,
        "dedup_key": key,
        "payload": {
            "summary": f"{service} queue depth high ({key})",
            "source": service,
            "severity": "error",
            "custom_details": {"service": service, "env": rng.choice(ENVS)},
        },
    }


def dumps(body: dict[str, Any]) -> bytes:
    return json.dumps(body).encode()


def proc_env(url: str, **extra: str) -> dict[str, str]:
    """The environment of a warroom process: no inherited WARROOM_* settings, quiet logs."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WARROOM_")}
    env.update({"WARROOM_DATABASE_URL": url, "WARROOM_LOG_LEVEL": "WARNING", "PYTHONUNBUFFERED": "1"})
    env.update(extra)
    root = Path(__file__).resolve().parents[1]
    env["PYTHONPATH"] = os.pathsep.join([str(root / "src"), str(root)])
    return env
