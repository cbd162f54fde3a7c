"""Typed domain errors; the API maps each kind to one HTTP status."""

from __future__ import annotations

from typing import Any


class WarroomError(Exception):
    code = "error"

    def __init__(self, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class NotFound(WarroomError):
    code = "not_found"


class Conflict(WarroomError):
    """The request is well-formed but the current state refuses it (HTTP 409)."""

    code = "conflict"


class IllegalTransition(Conflict):
    code = "illegal_transition"


class Invalid(WarroomError):
    """A value a user gave is wrong (HTTP 422); `details` names the field."""

    code = "invalid"


class Forbidden(WarroomError):
    code = "forbidden"
