"""What a domain can add to warroom: each domain's `register(registry)` fills one of these, in wiring order."""

from __future__ import annotations

from dataclasses import dataclass, field

import typer
from fastapi import APIRouter

from warroom.core.hooks import (
    DeactivationCheck,
    HealthCheck,
    Hooks,
    MetricsSource,
    ProcessSetup,
    RoomPanel,
    SectionProvider,
    WorkerTask,
)
from warroom.scheduler.runner import BatchLock, JobHandler, JobSpec
from warroom.slack.handlers import SlackHandlers


@dataclass
class Registry:
    """Routers (JSON API), pages (web UI), CLI groups, job kinds, templates and hooks.

    Built by `warroom.wiring.build_registry` for `serve`, `worker`, the CLI and the ingest writer
    process alike, so every process runs the same code whatever it happened to import."""

    routers: list[APIRouter] = field(default_factory=list)
    pages: list[APIRouter] = field(default_factory=list)
    cli: list[tuple[typer.Typer, str | None]] = field(default_factory=list)
    jobs: dict[str, JobSpec] = field(default_factory=dict)
    templates: list[str] = field(default_factory=list)
    postmortem_sections: list[SectionProvider] = field(default_factory=list)
    room_panels: list[RoomPanel] = field(default_factory=list)
    metrics: list[MetricsSource] = field(default_factory=list)
    health: list[HealthCheck] = field(default_factory=list)
    worker_tasks: list[WorkerTask] = field(default_factory=list)
    deactivation: list[DeactivationCheck] = field(default_factory=list)
    process_setup: list[ProcessSetup] = field(default_factory=list)
    slack: SlackHandlers = field(default_factory=SlackHandlers)  # commands, buttons, modals (/slack/events)

    def add_router(self, router: APIRouter) -> None:
        self.routers.append(router)

    def add_pages(self, router: APIRouter, *, templates: str | None = None) -> None:
        """Web pages (kept out of the OpenAPI schema); `templates`: the package whose templates/ they render."""
        router.include_in_schema = False
        self.pages.append(router)
        if templates and templates not in self.templates:
            self.templates.append(templates)

    def add_cli(self, app: typer.Typer, name: str | None = None) -> None:
        """A command group (`warroom NAME ...`), or with no name, top-level commands."""
        self.cli.append((app, name))

    def add_job(self, kind: str, handler: JobHandler, *, batch_lock: BatchLock | None = None) -> None:
        if kind in self.jobs:
            raise ValueError(f"job kind '{kind}' registered twice")
        self.jobs[kind] = JobSpec(handler=handler, batch_lock=batch_lock)

    def hooks(self) -> Hooks:
        """The frozen hooks the use cases receive (through AppState, the CLI, the worker)."""
        return Hooks(
            postmortem_sections=tuple(self.postmortem_sections),
            room_panels=tuple(self.room_panels),
            metrics=tuple(self.metrics),
            health=tuple(self.health),
            worker_tasks=tuple(self.worker_tasks),
            deactivation=tuple(self.deactivation),
            process_setup=tuple(self.process_setup),
            templates=tuple(self.templates),
        )
