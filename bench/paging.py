"""Paging latency: from the request that makes an alert a P1 to the Slack declaration and the page
leaving warroom (issue 21, second half: p99 under 200 ms).

`warroom serve` (its worker thread; on PostgreSQL also its ingest writer process) as a subprocess
on a fresh database, a local Slack Web API and a local PagerDuty Events API v2. Each sample is a new
P1 alert (Events API source, production, 5,000 users/hour) of a service of its own, so each one
declares an incident and pages level 1 of docs/oncall.md's escalation policy. Latency is counted
from just before the alert's POST to the arrival of the declaration at the Slack fake, of the
trigger at the PagerDuty fake, and of the later of the two.

    PYTHONPATH=src:. python bench/paging.py --db sqlite --db postgres --samples 100
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import httpx
import yaml
from bench.clusterlib import drop_database, loadavg, new_database, proc_env, summary
from tests.support.http_fakes import SlackApiServer
from tests.support.notify import SLACK_TOKEN
from tests.support.oncall import PEOPLE, example_data
from tests.support.oncall_fakes import PagerDutyApi
from tests.support.procs import ApiProc

from warroom import migrate
from warroom.core.clock import utcnow
from warroom.core.db import make_engine, session_factory
from warroom.users import service as users

KEY = "0123456789abcdef0123456789abcdef"


def write_policy(tmp: Path, samples: int, slack_pace: str) -> Path:
    data = example_data()
    data["channels"] = {
        "support": {"type": "slack", "channel": "#bench"},
        "pd": {"type": "pagerduty", "routing_key": KEY},
    }
    data["routes"] = {"declared": ["support"], "page": ["pd"]}
    data["services"] = data["services"] + [
        {
            "key": f"bench-{i}",
            "name": f"Bench service {i}",
            "escalation_policy": "identity",
            "match": [{"tags": {"service": f"bench-{i}"}}],
        }
        for i in range(samples)
    ]
    data["notifications"] = {**data.get("notifications", {}), "slack_pace": slack_pace}
    path = tmp / "policy.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def alert(token: str, i: int) -> bytes:
    return json.dumps(
        {
            "routing_key": token,
            "event_action": "trigger",
            "dedup_key": f"bench-{i}",
            "payload": {
                "summary": f"bench-{i} 5xx above 5%",
                "source": "bench",
                "severity": "critical",
                "custom_details": {"service": f"bench-{i}", "env": "prod", "users_per_hour": 5000},
            },
        }
    ).encode()


def run(kind: str, samples: int, gap: float, slack_pace: str) -> dict[str, list[float]]:
    tmp = Path(tempfile.mkdtemp())
    url = new_database(kind, tmp)
    out: dict[str, list[float]] = {"202": [], "slack": [], "page": [], "both": []}
    try:
        migrate.upgrade(url)
        engine = make_engine(url)
        with session_factory(engine).begin() as s:
            for h in PEOPLE:
                users.create_user(s, now=utcnow(), handle=h, role="responder", slack_id=f"U{h.upper()}")
        engine.dispose()
        policy = write_policy(tmp, samples, slack_pace)
        with SlackApiServer(token=SLACK_TOKEN) as slack, PagerDutyApi() as pd:
            env = proc_env(
                url,
                WARROOM_POLICY=str(policy),
                WARROOM_SLACK_TOKEN=SLACK_TOKEN,
                WARROOM_SLACK_API_URL=slack.url,
                WARROOM_PAGERDUTY_EVENTS_URL=pd.base,
            )
            from bench.clusterlib import warroom_cli

            token = warroom_cli(["token", "create", "--ingest", "events"], env)
            api = ApiProc(env, tmp / "api.log", worker=True).start()
            try:
                time.sleep(3)  # the worker thread, and on PostgreSQL the writer process, are up
                with httpx.Client(base_url=api.url, timeout=10) as client:
                    for i in range(samples):
                        body = alert(token, i)
                        started = time.time()
                        r = client.post(
                            "/api/v1/ingest/events", content=body, headers={"content-type": "application/json"}
                        )
                        assert r.status_code == 202, r.text
                        out["202"].append(time.time() - started)
                        name = f"Bench service {i} is"
                        got = slack.wait_for(
                            lambda calls, name=name: any(name in p.get("text", "") for p in slack.posts()), timeout=10
                        ) and pd.wait_for(
                            lambda calls, i=i: any(
                                e["payload"]["component"] == f"bench-{i}" for e in list(pd.events) if "payload" in e
                            ),
                            timeout=10,
                        )
                        assert got, f"sample {i} not delivered:\n{api.log()[-3000:]}"
                        slack_at = next(p["at"] for p in slack.posts() if name in p.get("text", ""))
                        page_at = next(
                            c.at
                            for c in pd.calls
                            if c.path.startswith("/v2/enqueue") and f'"component": "bench-{i}"' in c.body.decode()
                        )
                        out["slack"].append(slack_at - started)
                        out["page"].append(page_at - started)
                        out["both"].append(max(slack_at, page_at) - started)
                        time.sleep(gap)
            finally:
                api.stop()
    finally:
        drop_database(url)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", action="append", choices=["sqlite", "postgres"])
    ap.add_argument("--samples", type=int, default=100)
    ap.add_argument("--gap", type=float, default=0.25, help="seconds between two alerts")
    ap.add_argument("--slack-pace", default="0s", help="policy notifications.slack_pace (one channel for all)")
    args = ap.parse_args()
    for kind in args.db or ["sqlite", "postgres"]:
        print(f"{kind}: {args.samples} P1 alerts, one every {args.gap}s; load average {loadavg()}", flush=True)
        got = run(kind, args.samples, args.gap, args.slack_pace)
        for what, values in got.items():
            print(f"  {what:<5} ms {summary(values, 1000)}", flush=True)
        print(f"  load average after: {loadavg()}", flush=True)


if __name__ == "__main__":
    main()
