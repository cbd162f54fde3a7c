"""List every route the app serves (FastAPI nests included routers), for the auth table test."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


def iter_routes(routes: list[Any]) -> Iterator[tuple[str, str]]:
    """(method, path) for every endpoint; mounts (static files) yield ("*", path)."""
    for route in routes:
        if hasattr(route, "effective_candidates"):
            yield from iter_routes(route.effective_candidates())
        elif getattr(route, "methods", None):
            for method in sorted(route.methods - {"HEAD", "OPTIONS"}):
                yield method, route.path
        elif hasattr(route, "path"):
            yield "*", route.path
