"""The background worker entry point (filled in by the notifications issue)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from warroom.policy import Policy
from warroom.settings import Settings


def start_background_worker(state: Any) -> Callable[[], None]:
    """Start the worker loop in a thread inside `serve`; returns a stop function."""
    return lambda: None


def run_forever(settings: Settings, policy: Policy) -> None:
    raise SystemExit("the worker is not built yet")
