"""The wiring the processes build, for tests that call the worker or the use cases directly."""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy.orm import Session, sessionmaker

from warroom import wiring
from warroom.core.clock import Clock
from warroom.core.hooks import Hooks
from warroom.policy import Policy
from warroom.scheduler import runner
from warroom.scheduler.runner import JobSpec

REGISTRY = wiring.build_registry()
HOOKS: Hooks = REGISTRY.hooks()
JOBS: Mapping[str, JobSpec] = REGISTRY.jobs


def job_runner(policy: Policy, clock: Clock, worker_id: str = "t", jobs: Mapping[str, JobSpec] = JOBS) -> runner.Runner:
    return runner.Runner(jobs=jobs, policy=policy, clock=clock, worker_id=worker_id, hooks=HOOKS)


def run_due(sessions: sessionmaker[Session], policy: Policy, clock: Clock, worker_id: str = "t", **kw: object) -> int:
    """One pass of due jobs, as a worker runs them."""
    return runner.run_due_jobs(sessions, job_runner(policy, clock, worker_id), **kw)  # type: ignore[arg-type]
