"""In-process token buckets: per token, per address, per login name."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager


class RateLimiter:
    """Token buckets per key (a token, an address, a login name). Per process: with N API
    processes the effective limit is N times this, which still stops floods and guessing."""

    def __init__(self, rate_per_s: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate_per_s
        self.burst = burst
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str, cost: float = 1.0) -> float:
        """Take `cost` from the key's bucket; returns 0 if allowed, else seconds to wait."""
        now = self.clock()
        with self._lock:
            tokens, last = self._buckets.get(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.rate)
            if tokens >= cost:
                self._buckets[key] = (tokens - cost, now)
                if len(self._buckets) > 100_000:
                    self._buckets.clear()  # bounded memory under a key-spraying attack
                return 0.0
            self._buckets[key] = (tokens, now)
            return max(0.001, (cost - tokens) / self.rate)

    def blocked(self, key: str, cost: float = 1.0) -> float:
        """What `hit` would answer, taking nothing: a check before work that only a failure pays for."""
        now = self.clock()
        with self._lock:
            found = self._buckets.get(key)
            if found is None:
                return 0.0
            tokens = min(float(self.burst), found[0] + (now - found[1]) * self.rate)
            return 0.0 if tokens >= cost else max(0.001, (cost - tokens) / self.rate)

    def __contains__(self, key: object) -> bool:
        return key in self._buckets

    def __len__(self) -> int:
        return len(self._buckets)


def retry_after_header(wait: float) -> dict[str, str]:
    return {"Retry-After": str(max(1, math.ceil(wait)))}


class Busy(Exception):
    """No slot free within the wait (or too many already waiting): answer 503 with Retry-After."""


class Slots:
    """At most `size` holders at once, at most `waiting` more queued for up to `wait` seconds: a
    bound on work that costs memory per holder (argon2id takes 64 MiB per password check; 40
    concurrent sign-ins took a server from 185 MB to 1.7 GB)."""

    def __init__(self, size: int, *, waiting: int, wait: float) -> None:
        self.size, self.max_waiting, self.wait = size, waiting, wait
        self._free = threading.BoundedSemaphore(size)
        self._lock = threading.Lock()
        self._waiting = 0

    @contextmanager
    def hold(self) -> Iterator[None]:
        with self._lock:
            if self._waiting >= self.max_waiting:
                raise Busy(f"{self._waiting} already waiting")
            self._waiting += 1
        try:
            got = self._free.acquire(timeout=self.wait)
        finally:
            with self._lock:
                self._waiting -= 1
        if not got:
            raise Busy(f"no slot within {self.wait:g}s")
        try:
            yield
        finally:
            self._free.release()
