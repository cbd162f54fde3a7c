"""The OOB request JSON contract."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, BaseModel, BeforeValidator, ConfigDict, Field, HttpUrl

from warroom.core.bounds import DB_INT_MAX

PlatformSeverity = Literal["critical", "high", "moderate", "low"]
OobState = Literal["draft", "requested", "approved", "deployed", "verified", "rejected", "cancelled"]
ChecklistItem = Literal[
    "paging_incident", "leadership_ack", "channels_notified", "infrastructure_ack", "security_review"
]


class OobForm(BaseModel):
    """Every field optional: a draft may be incomplete; `requested` checks completeness."""

    model_config = ConfigDict(extra="forbid")

    prs: list[HttpUrl] | None = Field(default=None, max_length=50)
    platform_severity: PlatformSeverity | None = None
    active_daily_users: int | None = Field(default=None, ge=0, le=DB_INT_MAX)
    fix_confirmed_in_staging: bool | None = None
    not_confirmed_reason: str | None = Field(default=None, max_length=5000)
    description: str | None = Field(default=None, max_length=20000)
    reason: str | None = Field(default=None, max_length=20000)
    validation_steps: str | None = Field(default=None, max_length=20000)
    validated_by: str | None = Field(default=None, max_length=200)
    confirm_after_cutoff: bool | None = None
    confirm_cannot_wait: bool | None = None
    confirm_postmortem: bool | None = None
    proxies_changed: bool | None = None
    security_related: bool | None = None


class OobTransitionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    to: OobState
    reason: str | None = Field(default=None, max_length=5000)


class ChecklistIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    item: ChecklistItem
    done: bool = True
    note: str | None = Field(default=None, max_length=2000)


class PostmortemDoneIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: HttpUrl | None = None


class ChecklistEntryOut(BaseModel):
    item: str
    label: str
    required: bool
    done: bool
    by: str | None = None
    at: datetime | None = None
    note: str | None = None


def _ref(value: Any) -> Any:
    """An incident id as its ref (INC-n)."""
    return f"INC-{value}" if isinstance(value, int) else value


class OobOut(BaseModel):
    """Read from the ORM row (from_attributes); the checklist and what is missing are the service's (view)."""

    model_config = ConfigDict(from_attributes=True)

    id: str = Field(validation_alias=AliasChoices("ref", "id"))
    number: int = Field(validation_alias=AliasChoices("number", "id"))
    incident: Annotated[str, BeforeValidator(_ref)] = Field(validation_alias=AliasChoices("incident_id", "incident"))
    state: OobState
    created_by: str
    created_at: datetime
    updated_at: datetime
    prs: Annotated[list[str], BeforeValidator(lambda v: list(v or []))]
    platform_severity: str | None
    active_daily_users: int | None
    fix_confirmed_in_staging: bool | None
    not_confirmed_reason: str | None
    description: str | None
    reason: str | None
    validation_steps: str | None
    validated_by: str | None
    confirm_after_cutoff: bool
    confirm_cannot_wait: bool
    confirm_postmortem: bool
    proxies_changed: bool
    security_related: bool
    # not the row's checklist (a dict): the service lists every item (aliases the row does not have)
    checklist: list[ChecklistEntryOut] = Field([], validation_alias="checklist_entries")
    checklist_missing: list[str] = []
    form_missing: list[str] = []
    requested_at: datetime | None
    requested_by: str | None
    approved_at: datetime | None
    approved_by: str | None
    deployed_at: datetime | None
    deployed_by: str | None
    verified_at: datetime | None
    verified_by: str | None
    closed_at: datetime | None
    closed_by: str | None
    closed_reason: str | None
    postmortem_due_at: datetime | None
    postmortem_done_at: datetime | None
    postmortem_url: str | None
    allowed_transitions: list[str] = []


def form_dict(form: OobForm) -> dict[str, Any]:
    data = form.model_dump(exclude_unset=True, mode="json")
    return data
