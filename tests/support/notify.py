"""Helpers for notification tests: a policy pointed at local fake servers, and a worker to drive."""

from __future__ import annotations

import copy
from typing import Any

import yaml
from sqlalchemy.orm import Session, sessionmaker

from tests.support.wired import HOOKS, JOBS
from warroom.core.clock import Clock
from warroom.core.settings import Settings
from warroom.policy import Policy
from warroom.policy.loader import reference_policy_text
from warroom.worker import Worker

SLACK_TOKEN = "xoxb-test"
FAST = {
    "slack_pace": "0s",
    "backoff_base": "1s",
    "backoff_max": "30s",
    "jitter": 0,
    "timeout": "1s",
    "lease": "2s",
    "max_attempts": 5,
}


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in extra.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def policy_raw(**sections: Any) -> dict[str, Any]:
    """The reference policy as a dict with fast notification settings and `sections` merged in
    (`channels` and `routes` replace the reference ones when given)."""
    raw = yaml.safe_load(reference_policy_text())
    raw["notifications"] = {**raw.get("notifications", {}), **FAST}
    for key in ("channels", "routes"):
        if key in sections:
            raw[key] = sections.pop(key)
    return _merge(raw, sections)


def make_policy(**sections: Any) -> Policy:
    return Policy.model_validate(policy_raw(**sections))


def slack_channels(support: str = "#support", leadership: str = "#leaders") -> dict[str, Any]:
    return {"support": {"type": "slack", "channel": support}, "leadership": {"type": "slack", "channel": leadership}}


def settings_for(db_url: str, slack: Any = None, smtp: Any = None) -> Settings:
    kw: dict[str, Any] = {"database_url": db_url}
    if slack is not None:
        kw.update(slack_token=SLACK_TOKEN, slack_api_url=slack.url)
    if smtp is not None:
        kw.update(smtp_host=smtp.host, smtp_port=smtp.port)
    return Settings(**kw)


def worker(
    sessions: sessionmaker[Session],
    policy: Policy,
    clock: Clock,
    db_url: str,
    *,
    slack: Any = None,
    smtp: Any = None,
    worker_id: str = "test-worker",
) -> Worker:
    return Worker(
        sessions,
        settings=settings_for(db_url, slack, smtp),
        policy=policy,
        clock=clock,
        worker_id=worker_id,
        jobs=JOBS,
        hooks=HOOKS,
    )
