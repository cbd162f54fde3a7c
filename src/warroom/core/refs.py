"""What people type for a record: `INC-12`, `inc-12` or `12` -> 12 (any domain may read an incident ref)."""

from __future__ import annotations

import re

from warroom.core.errors import NotFound

_PATTERNS: dict[str, re.Pattern[str]] = {}


def number(ref: str | int, prefix: str = "INC", what: str = "incident") -> int:
    """The id in `PREFIX-n` or `n`; NotFound (404) for anything else."""
    pattern = _PATTERNS.get(prefix)
    if pattern is None:
        pattern = _PATTERNS[prefix] = re.compile(rf"^(?:{prefix}-)?(\d{{1,12}})$", re.IGNORECASE)
    match = pattern.match(str(ref).strip())
    if not match:
        raise NotFound(f"no {what} '{ref}' (ids look like {prefix}-12)")
    return int(match.group(1))
