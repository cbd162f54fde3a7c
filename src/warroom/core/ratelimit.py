"""In-process token buckets: per token, per address, per login name."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable


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


def retry_after_header(wait: float) -> dict[str, str]:
    return {"Retry-After": str(max(1, math.ceil(wait)))}
