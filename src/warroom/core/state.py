"""The application state every entry point builds once per process: typed, no string-keyed bag."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from warroom.core.clock import Clock
from warroom.core.db import readonly, session_factory
from warroom.core.hooks import Hooks
from warroom.core.ratelimit import RateLimiter
from warroom.core.settings import Settings, in_force
from warroom.policy.schema import Policy


@dataclass
class AppState:
    """Settings, policy, database, clock and the wiring's hooks; limiters shared by every request."""

    settings: Settings
    policy: Policy
    engine: Engine
    clock: Clock
    hooks: Hooks = field(default_factory=Hooks)
    worker_in_process: bool = False  # `serve` runs the worker as a thread (health reads it)
    sessions: sessionmaker[Session] = field(init=False)
    read_sessions: sessionmaker[Session] = field(init=False)
    login_limiter: RateLimiter = field(init=False)
    ingest_limiter: RateLimiter = field(init=False)

    def __post_init__(self) -> None:
        self.policy = in_force(self.policy, self.settings)
        self.sessions = session_factory(self.engine)
        self.read_sessions = session_factory(readonly(self.engine))
        self.login_limiter = RateLimiter(self.settings.login_rate_per_min / 60.0, self.settings.login_burst)
        self.ingest_limiter = RateLimiter(self.settings.ingest_rate_per_s, self.settings.ingest_burst)
        self.hooks.setup_process()

    def now(self) -> datetime:
        return self.clock.now()
