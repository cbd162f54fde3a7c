"""What one domain adds to another's use cases, collected by the wiring: typed, explicit, never by import."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Literal

from prometheus_client.core import Metric
from sqlalchemy.orm import Session, sessionmaker

from warroom.core.clock import Clock
from warroom.core.settings import Settings
from warroom.policy.schema import Policy

if TYPE_CHECKING:
    from warroom.core.state import AppState

# (session, incident id) -> a Markdown section for the incident's postmortem, or None.
SectionProvider = Callable[[Session, int], str | None]
# (session, now) -> gauges computed from the database for one /metrics scrape.
MetricsSource = Callable[[Session, datetime], Iterable[Metric]]


@dataclass(frozen=True)
class Deactivation:
    """A person about to be deactivated, and who takes over what they hold (`replacement`)."""

    handle: str
    replacement: str | None
    actor: str
    now: datetime
    policy: Policy


# (session, deactivation) -> raise a domain error if the person holds something nobody takes over;
# else hand it to `replacement` (e.g. the incidents they command).
DeactivationCheck = Callable[[Session, Deactivation], None]


@dataclass(frozen=True)
class RoomPanel:
    """A block of the incident room page: a template, and its context read for one incident (with
    the app's settings, for what links elsewhere)."""

    template: str
    context: Callable[[Session, int, Settings], Mapping[str, object]]


@dataclass
class Health:
    """What /healthz answers, filled in by the app (the database) and each domain's check."""

    status: Literal["ok", "degraded", "unavailable"] = "ok"
    checks: dict[str, object] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    extra: dict[str, object] = field(default_factory=dict)  # top-level fields (e.g. worker_last_beat)

    def worsen(self, status: Literal["degraded", "unavailable"]) -> None:
        if status == "unavailable" or self.status == "ok":
            self.status = status


HealthCheck = Callable[["AppState", Health], None]


@dataclass(frozen=True)
class WorkerContext:
    """What a worker task gets: no transaction is open, so it may wait on the network between its own."""

    sessions: sessionmaker[Session]
    settings: Settings
    policy: Policy
    clock: Clock


# Run by every worker pass outside any transaction (refreshing external calendars); returns work done.
WorkerTask = Callable[[WorkerContext], int]
# Run once by every process that builds its AppState, the ingest writer process too (it gets the hooks
# pickled, not the wiring): e.g. the Datadog mirror's flush listener that marks changed incidents.
ProcessSetup = Callable[[], None]


@dataclass(frozen=True)
class Hooks:
    """Built once per process from the registry (warroom.wiring); passed where a use case needs it."""

    postmortem_sections: tuple[SectionProvider, ...] = ()
    room_panels: tuple[RoomPanel, ...] = ()
    metrics: tuple[MetricsSource, ...] = ()
    health: tuple[HealthCheck, ...] = ()
    worker_tasks: tuple[WorkerTask, ...] = ()
    deactivation: tuple[DeactivationCheck, ...] = ()
    process_setup: tuple[ProcessSetup, ...] = ()
    templates: tuple[str, ...] = field(default=())  # packages holding a templates/ folder, searched in order

    def setup_process(self) -> None:
        """What every process runs once it is built (the app, a worker, the CLI, the ingest writer);
        each setup is idempotent, so building twice in one process is harmless."""
        for setup in self.process_setup:
            setup()
