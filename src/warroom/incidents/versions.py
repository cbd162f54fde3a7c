"""An incident's version: one short digest per editable field, so a stale edit is refused naming what changed."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from typing import Any

from warroom.core.errors import Conflict, Invalid
from warroom.incidents.models import Incident

# Every field a person edits (web form, PATCH); the order is part of the version's format.
EDITABLE = (
    "title",
    "priority",
    "severity",
    "commander",
    "roles",
    "services",
    "monitors",
    "teams",
    "controller",
    "acknowledged_by_team",
    "tracking_issue",
    "sub_services",
    "users_impacted",
    "impacts",
    "detection_method",
    "pending_tasks",
)
_SIZE = 3  # bytes per field: a change goes unseen once in 16 million


class StaleEdit(Conflict):
    """An edit made on an older version of the incident."""


def normal(value: Any) -> Any:
    """One form for equal values: blank text is no value, text is stripped, empty roles dropped."""
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, dict):
        return {k: normal(v) for k, v in sorted(value.items()) if normal(v) is not None} or None
    if isinstance(value, list | tuple):
        return [normal(v) for v in value] or None
    return value


def _digest(value: Any) -> bytes:
    text = json.dumps(normal(value), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.blake2b(text.encode(), digest_size=_SIZE).digest()


def field_value(incident: Incident | Any, name: str) -> Any:
    value = getattr(incident, name)
    return list(value) if name == "services" else value


def of(incident: Incident | Any) -> str:
    """The version clients send back (If-Match, the web form's hidden field); of a row or its IncidentOut."""
    raw = b"".join(_digest(field_value(incident, name)) for name in EDITABLE)
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(version: str) -> list[bytes]:
    text = version.strip().removeprefix("W/").strip('"')
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != _SIZE * len(EDITABLE):
        raise Invalid("that is not a version of this incident: reload it and edit again", {"field": "version"})
    return [raw[i : i + _SIZE] for i in range(0, len(raw), _SIZE)]


def differs(version: str, values: dict[str, Any]) -> list[str]:
    """The fields among `values` whose value is not the one `version` saw."""
    seen = dict(zip(EDITABLE, _decode(version), strict=True))
    return [name for name, value in values.items() if name in seen and _digest(value) != seen[name]]


def check(incident: Incident, version: str | None) -> None:
    """Refuse an edit made on an older version (409), saying what changed since and what it is now."""
    if version is None or version.strip() == "*":
        return
    changed = differs(version, {name: field_value(incident, name) for name in EDITABLE})
    if changed:
        names = ", ".join(name.replace("_", " ") for name in changed)
        raise StaleEdit(
            f"{incident.ref} changed since you loaded it ({names}); nothing was saved: reload and edit again",
            {"changed": {name: field_value(incident, name) for name in changed}, "version": of(incident)},
        )
