"""The incident JSON contract (/api/v1); extend it, never rename it."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    HttpUrl,
    computed_field,
    field_validator,
)

from warroom.core.bounds import DB_INT_MAX, UtcDateTime
from warroom.incidents import states, versions

Priority = Literal["P1", "P2", "P3", "P4"]
State = Literal["active", "stable", "resolved", "completed"]
# JSON columns read from the ORM (from_attributes): an old row's NULL is empty.
Strings = Annotated[list[str], BeforeValidator(lambda v: v or [])]
Data = Annotated[dict[str, Any], BeforeValidator(lambda v: v or {})]
Names = Annotated[dict[str, str], BeforeValidator(lambda v: v or {})]
Rows = Annotated[list[dict[str, Any]], BeforeValidator(lambda v: v or [])]


class PendingTask(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=500)
    url: HttpUrl | None = None
    done: bool = False


class _Editable(BaseModel):
    model_config = ConfigDict(extra="forbid")

    roles: dict[str, str] | None = None
    monitors: list[str] | None = None
    teams: list[str] | None = None
    controller: str | None = Field(default=None, max_length=500)
    acknowledged_by_team: bool | None = None
    tracking_issue: str | None = Field(default=None, max_length=1000)
    sub_services: str | None = Field(default=None, max_length=5000)
    users_impacted: int | None = Field(default=None, ge=0, le=DB_INT_MAX)
    impacts: str | None = Field(default=None, max_length=20000)
    detection_method: str | None = Field(default=None, max_length=200)
    pending_tasks: list[PendingTask] | None = None


class IncidentCreate(_Editable):
    title: str | None = Field(default=None, max_length=500)
    services: list[str] = Field(min_length=1)
    priority: Priority
    severity: str
    commander: str | None = None
    alerts: list[int] | None = Field(
        default=None,
        max_length=500,
        description=(
            "Alert ids to declare from: they are attached (moved from another incident if need be), and fill "
            "monitors, detection method and first_alert_at (MTTA from the alert) unless given"
        ),
    )

    @field_validator("title")
    @classmethod
    def _title(cls, value: str | None) -> str | None:
        return value.strip() or None if value is not None else None


class IncidentPatch(_Editable):
    title: str | None = Field(default=None, min_length=1, max_length=500)
    services: list[str] | None = Field(default=None, min_length=1)
    priority: Priority | None = None
    severity: str | None = None
    commander: str | None = None


class TransitionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    to: State
    reason: str | None = Field(default=None, max_length=2000)


class AttachIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    alert_ids: list[int] = Field(min_length=1, max_length=500, description="Alerts to attach (or move here)")


class HandOverIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    to: str = Field(min_length=1, max_length=64, description="Handle of an active user whose role may command")
    reason: str | None = Field(default=None, max_length=2000)


class UpdateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    message: str = Field(min_length=1, max_length=20000)


class NoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=20000)
    occurred_at: UtcDateTime | None = None


class TimelineOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    occurred_at: datetime
    recorded_at: datetime
    kind: str
    actor: str
    text: str
    data: Data = {}
    via: str | None = Field(
        None, description="Where it was made: api, web, cli, slack or system (null: by the alert ingest)"
    )


class PageOut(BaseModel):
    """One level of the incident's escalation policy that was paged."""

    model_config = ConfigDict(from_attributes=True)

    level: int
    escalation_policy: str
    users: list[str] = Field(description="Handles paged; empty: nobody was on call, the next level followed")
    schedule: str | None
    paged_at: datetime
    ack_due_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None


class TimelinePage(BaseModel):
    items: list[TimelineOut] = Field(description="Entries in true order: when they happened, then when recorded")
    total: int
    page: int
    per_page: int


class UpdateOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    message: str
    state: str
    priority: str
    severity: str
    actor: str
    automatic: bool
    created_at: datetime
    due_at: datetime | None
    on_time: bool


VERSION_HELP = (
    "Changes with every edit of the fields a person edits; send it back as `If-Match` on PATCH so an edit made on "
    "an older version is refused (409, `details.changed` names what changed since); also the ETag"
)


class IncidentOut(BaseModel):
    """Read from the ORM row (from_attributes): `id` is its ref (INC-n), `number` its id."""

    model_config = ConfigDict(from_attributes=True, validate_by_name=True)

    id: str = Field(validation_alias=AliasChoices("ref", "id"))
    number: int = Field(validation_alias=AliasChoices("number", "id"))
    title: str
    state: State
    priority: Priority
    severity: str
    commander: str
    declared_by: str
    roles: Names
    services: list[str]
    monitors: Strings
    teams: Strings
    controller: str | None
    acknowledged_by_team: bool
    tracking_issue: str | None
    sub_services: str | None
    users_impacted: int | None
    impacts: str | None
    detection_method: str | None
    pending_tasks: Rows
    declared_automatically: bool
    first_alert_at: datetime | None
    declared_at: datetime
    acknowledged_at: datetime | None
    stable_at: datetime | None
    resolved_at: datetime | None
    completed_at: datetime | None
    last_update_at: datetime | None
    next_update_due_at: datetime | None
    missed_updates: int
    updated_at: datetime
    datadog_id: str | None = Field(None, description="The same incident in Datadog Incident Management (UUID)")
    datadog_public_id: int | None = Field(None, description="Its public id in Datadog (the number people quote)")
    completion_missing: list[str] = Field(
        [], description="What completion still needs (resolved incidents; empty in lists)"
    )
    alerts: list[dict[str, Any]] | None = Field(
        default=None,
        description=(
            "The incident's alerts, at most 100: the firing ones first (longest firing first), then the most "
            "recent others; `alerts_total` counts them all and GET /api/v1/alerts?incident=INC-n pages "
            "through every one (detail views only; null in lists)"
        ),
    )
    alerts_total: int | None = Field(
        default=None, description="How many alerts the incident has, listed or not (detail views only)"
    )
    alerts_firing: int | None = Field(default=None, description="How many of them are firing now (detail views only)")
    commander_problem: str | None = Field(
        default=None,
        description=(
            "Why the commander cannot command (e.g. an automatic declaration's on-call that is no warroom user): "
            "hand over command (POST .../commander); detail views only"
        ),
    )

    @computed_field  # type: ignore[prop-decorator]
    @property
    def allowed_transitions(self) -> list[str]:
        return states.allowed(self.state)

    @computed_field(description=VERSION_HELP)  # type: ignore[prop-decorator]
    @property
    def version(self) -> str:
        return versions.of(self)


class IncidentPage(BaseModel):
    items: list[IncidentOut]
    total: int
    page: int
    per_page: int


class DraftOut(BaseModel):
    incident: str
    since: datetime
    text: str
    changes: list[dict[str, Any]] = Field(
        description=(
            "What changed since the last update, in order: the newest timeline entries and the newest alerts that "
            "fired or recovered (a few of each; `changes_omitted` counts the rest)"
        )
    )
    firing: list[dict[str, Any]] = Field(description="The longest-firing alerts (a few; `firing_count` counts all)")
    last_human_update: dict[str, Any] | None
    next_update_due_at: datetime | None
    firing_count: int = Field(0, description="Alerts of the incident firing now")
    fired_count: int = Field(0, description="Alerts that fired since the last update")
    recovered_count: int = Field(0, description="Alerts that recovered since the last update")
    alerts_total: int = Field(0, description="Alerts of the incident, firing or not")
    changes_omitted: int = Field(
        0,
        description=(
            "Changes since the last update not listed in `changes` (counted in the text); all alerts: "
            "GET /api/v1/alerts?incident=INC-n, the whole timeline: GET /api/v1/incidents/{ref}/timeline"
        ),
    )


class CadenceOut(BaseModel):
    updates: int
    human_updates: int
    automatic_updates: int
    on_time: int
    late: int
    missed: int
    missed_in_a_row: int
    longest_gap_seconds: int
    longest_gap: str
    longest_human_gap_seconds: int
    longest_human_gap: str
    next_update_due_at: datetime | None
