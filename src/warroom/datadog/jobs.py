"""The worker task: claims in the pass, sends on a small pool of its own, so a slow or failing Datadog
never holds up the worker's due jobs and Slack messages (each call waits up to the policy's timeout)."""

from __future__ import annotations

import logging
import threading
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

from warroom.core.hooks import WorkerContext
from warroom.datadog import client, mirror
from warroom.datadog.client import Api
from warroom.notifications.delivery import through_outage

log = logging.getLogger(__name__)
WAIT_S = 0.05  # while sends are in flight a pass waits this long for one to end (no busy loop)
_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None
_inflight: dict[int, Future[str]] = {}  # incident id -> its send and record, in this process


class _PausedMeanwhile(Exception):
    """Datadog refused the keys (another send's record committed) between the pass's pause check and
    its claim (PostgreSQL, READ COMMITTED): the claim is rolled back, nothing is sent with them."""


def _executor(size: int) -> ThreadPoolExecutor:
    global _pool
    with _lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=size, thread_name_prefix="datadog")
        return _pool


def _run(ctx: WorkerContext, api: Api, keys: str, job: mirror.Job) -> str:
    out = mirror.send(api, job)

    def record() -> str:
        with ctx.sessions.begin() as session:
            return mirror.record(session, policy=ctx.policy, settings_keys=keys, job=job, out=out, now=ctx.clock.now())

    return through_outage(record, policy=ctx.policy, what=f"datadog mirror of {job.snap.ref}")


def _collect() -> int:
    with _lock:
        done = [i for i, f in _inflight.items() if f.done()]
        for i in done:
            exc = _inflight.pop(i).exception()
            if exc is not None:
                log.error("datadog mirror of INC-%s: the outcome was not recorded: %s", i, exc)
    return len(done)


def worker_task(ctx: WorkerContext) -> int:
    """Run by every worker pass; off while the keys are unset. Returns work done or in flight."""
    if not client.enabled(ctx.settings):
        return 0
    finished = _collect()
    size = ctx.policy.notifications.concurrency
    keys = client.keys_digest(ctx.settings)
    jobs: list[mirror.Job] = []
    room = size - len(_inflight)
    if room > 0:
        try:
            with ctx.sessions.begin() as session:
                now = ctx.clock.now()
                limit = mirror.may_run(session, keys=keys, now=now)
                if limit != 0:
                    jobs = mirror.claim(session, policy=ctx.policy, now=now, limit=min(room, limit or room))
                    if jobs and mirror.may_run(session, keys=keys, now=now) == 0:
                        raise _PausedMeanwhile
        except _PausedMeanwhile:
            jobs = []
    if jobs:
        api = Api(ctx.settings, timeout=ctx.policy.notifications.timeout.total_seconds())
        pool = _executor(size)
        with _lock:
            for job in jobs:
                _inflight[job.incident_id] = pool.submit(_run, ctx, api, keys, job)
    with _lock:
        pending = list(_inflight.values())
    if pending and not jobs:
        wait(pending, timeout=WAIT_S, return_when=FIRST_COMPLETED)
        finished += _collect()
    return finished + len(jobs) + (1 if _inflight else 0)
