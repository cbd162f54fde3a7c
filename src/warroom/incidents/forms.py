"""The incident forms of the web UI as Pydantic models: what the browser sends, parsed with clear field errors."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator
from starlette.datastructures import FormData

from warroom.core.bounds import DB_INT_MAX
from warroom.incidents.schemas import IncidentCreate, IncidentPatch, Priority


def _blank(value: Any) -> Any:
    """A text box left empty is no value."""
    return (value.strip() or None) if isinstance(value, str) else value


def _whole(value: Any) -> Any:
    """`12,000` and `12_000` are 12000; anything else that is not a whole number is refused by name."""
    if not isinstance(value, str):
        return value
    text = value.strip().replace(",", "").replace("_", "")
    if not text:
        return None
    if not re.fullmatch(r"[+-]?\d{1,30}", text):
        raise ValueError("must be a whole number")
    return int(text)


def _utc_local(value: Any) -> Any:
    """A datetime-local box (no offset) is UTC."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        return datetime.fromisoformat(value.strip()).replace(tzinfo=UTC)
    except ValueError:
        raise ValueError("the time looks like 2026-10-05T09:30 (UTC)") from None


Count = Annotated[int, Field(ge=0, le=DB_INT_MAX)]
WholeNumber = Annotated[Count | None, BeforeValidator(_whole)]


def values(form: FormData, *, lists: Iterable[str] = ()) -> dict[str, Any]:
    """The form's fields as sent: one string each, every value of a list field."""
    multi = set(lists)
    return {key: form.getlist(key) if key in multi else form.get(key) for key in form}


class _Form(BaseModel):
    model_config = ConfigDict(extra="ignore")

    @field_validator("*", mode="before")
    @classmethod
    def _blank_text(cls, value: Any) -> Any:
        return _blank(value)


class DeclareForm(_Form):
    title: str | None = Field(default=None, max_length=500)
    services: list[str] = []
    priority: str
    severity: str
    commander: str | None = Field(default=None, max_length=64)
    alerts: list[Annotated[int, Field(ge=1, le=2**31 - 1)]] = Field(default=[], max_length=500)  # declared from them

    @classmethod
    def parse(cls, form: FormData) -> DeclareForm:
        return cls.model_validate(values(form, lists=("services", "alerts")))

    def incident(self, *, default_commander: str) -> IncidentCreate:
        data = self.model_dump()
        data["commander"] = self.commander or default_commander
        data["alerts"] = self.alerts or None
        return IncidentCreate.model_validate(data)


class EditForm(_Form):
    """The room's "Edit fields and roles": every field as the person left it, and the version they saw."""

    version: Annotated[str, Field(min_length=1, max_length=200)]
    title: str = Field(min_length=1, max_length=500)
    priority: Priority
    severity: str = Field(max_length=8)
    commander: str | None = Field(default=None, max_length=64)
    roles: dict[str, str] = {}
    services: list[str] = Field(min_length=1)
    users_impacted: WholeNumber = None
    detection_method: str | None = Field(default=None, max_length=200)
    controller: str | None = Field(default=None, max_length=500)
    tracking_issue: str | None = Field(default=None, max_length=1000)
    impacts: str | None = Field(default=None, max_length=20000)
    sub_services: str | None = Field(default=None, max_length=5000)

    @classmethod
    def parse(cls, form: FormData, *, roles: Iterable[str]) -> EditForm:
        data = values(form, lists=("services",))
        data["roles"] = {r: str(form.get(f"role_{r}") or "").strip()[:64] for r in roles if r != "commander"}
        return cls.model_validate(data)

    @field_validator("roles")
    @classmethod
    def _named(cls, value: dict[str, str]) -> dict[str, str]:
        return {role: person for role, person in value.items() if person}

    def fields(self) -> dict[str, Any]:
        """The incident's fields as the form has them."""
        return self.model_dump(exclude={"version"})

    def patch(self, names: Iterable[str]) -> IncidentPatch:
        """Only the fields the person changed."""
        data = self.fields()
        return IncidentPatch.model_validate({name: data[name] for name in names})


class NoteForm(_Form):
    text: str = Field(min_length=1, max_length=20000)
    occurred_at: Annotated[datetime | None, BeforeValidator(_utc_local)] = None

    @field_validator("text", mode="before")
    @classmethod
    def _some(cls, value: Any) -> Any:
        if not _blank(value):
            raise ValueError("a note needs some text")
        return value


class UpdateForm(_Form):
    message: str = Field(min_length=1, max_length=20000)

    @field_validator("message", mode="before")
    @classmethod
    def _some(cls, value: Any) -> Any:
        if not _blank(value):
            raise ValueError("a status update needs a message")
        return value


class TransitionForm(_Form):
    to: str = Field(max_length=16)
    reason: str | None = Field(default=None, max_length=2000)


class PostmortemForm(BaseModel):
    """The Markdown as typed (not stripped), with the version it was edited from."""

    model_config = ConfigDict(extra="ignore")

    markdown: str = Field(max_length=500_000)
    base_version: WholeNumber = None

    @field_validator("base_version", mode="before")
    @classmethod
    def _blank_version(cls, value: Any) -> Any:
        return _blank(value)

    @field_validator("markdown", mode="before")
    @classmethod
    def _some(cls, value: Any) -> Any:
        text = str(value or "").replace("\r\n", "\n")
        if not text.strip():
            raise ValueError("the postmortem cannot be empty")
        return text
