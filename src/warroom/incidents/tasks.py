"""Pending tasks (follow-ups of an incident): add, tick and remove one, as the PATCH of the whole list."""

from __future__ import annotations

from typing import Any

from warroom.core.errors import NotFound
from warroom.incidents.models import Incident
from warroom.incidents.schemas import IncidentPatch, PendingTask


def _current(incident: Incident) -> list[PendingTask]:
    return [PendingTask.model_validate(t) for t in incident.pending_tasks or []]


def _find(tasks: list[PendingTask], number: int, incident: Incident) -> int:
    if not 1 <= number <= len(tasks):
        raise NotFound(f"{incident.ref} has no pending task {number}", {"field": "task", "tasks": len(tasks)})
    return number - 1


def added(incident: Incident, *, title: str, url: str | None = None) -> IncidentPatch:
    task = PendingTask.model_validate({"title": title, "url": url or None})
    return IncidentPatch(pending_tasks=[*_current(incident), task])


def ticked(incident: Incident, *, number: int, done: bool) -> IncidentPatch:
    """Task `number` (1-based, as listed) done or not."""
    tasks = _current(incident)
    at = _find(tasks, number, incident)
    tasks[at] = tasks[at].model_copy(update={"done": done})
    return IncidentPatch(pending_tasks=tasks)


def removed(incident: Incident, *, number: int) -> IncidentPatch:
    tasks = _current(incident)
    del tasks[_find(tasks, number, incident)]
    return IncidentPatch(pending_tasks=tasks)


def listed(incident: Incident) -> list[dict[str, Any]]:
    return [{"number": i, **t.model_dump(mode="json")} for i, t in enumerate(_current(incident), 1)]
