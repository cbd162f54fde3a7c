"""Tell a database outage or lock conflict (retry later) from a bug, and log outages as one line."""

from __future__ import annotations

import logging
import threading
import time

from sqlalchemy import exc as sa_exc

# deadlock, serialization failure, lock not available: the transaction lost a race, retrying wins
CONFLICT_STATES = frozenset({"40P01", "40001", "55P03"})
RETRY_AFTER_S = 2


def sqlstate(error: BaseException) -> str | None:
    orig = getattr(error, "orig", None)
    state = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    return str(state) if state else None


def is_conflict(error: BaseException) -> bool:
    """A deadlock or serialization failure: the whole transaction was rolled back; run it again."""
    return isinstance(error, sa_exc.DBAPIError) and sqlstate(error) in CONFLICT_STATES


def is_outage(error: BaseException) -> bool:
    """The database is unreachable, restarting, or too busy (pool exhausted); a conflict counts too."""
    if isinstance(error, sa_exc.TimeoutError):  # pool checkout timed out
        return True
    if isinstance(error, sa_exc.DBAPIError):
        return error.connection_invalidated or isinstance(error, sa_exc.OperationalError | sa_exc.InterfaceError)
    return False


def one_line(error: BaseException) -> str:
    """`OperationalError: connection refused` without SQL, parameters or the traceback."""
    orig = getattr(error, "orig", None) or error
    text = str(orig).strip().splitlines()
    return f"{type(orig).__name__}: {text[0] if text else ''}"[:300]


class Throttled:
    """Logs the first outage line at once, then at most one line per `every` seconds with a count."""

    def __init__(self, logger: logging.Logger, every: float = 5.0) -> None:
        self.logger, self.every = logger, every
        self._lock = threading.Lock()
        self._last = 0.0
        self._suppressed = 0

    def warn(self, what: str, error: BaseException) -> None:
        now = time.monotonic()
        with self._lock:
            if now - self._last < self.every:
                self._suppressed += 1
                return
            more, self._suppressed, self._last = self._suppressed, 0, now
        extra = f" ({more} more since the last line)" if more else ""
        self.logger.warning("%s: database unavailable: %s%s", what, one_line(error), extra)
