"""The OOB request form in the browser: labels, what was typed, and parsing into OobForm (pure)."""

from __future__ import annotations

import re
from typing import Any, Final

from pydantic import ValidationError
from starlette.datastructures import FormData

from warroom.core.errors import Invalid
from warroom.deploys.models import OobRequest
from warroom.deploys.schemas import OobForm

# Human names of the form's fields, in the order the form shows them (also for "what is missing").
LABELS: Final = {
    "prs": "Related PR URLs",
    "platform_severity": "Platform severity",
    "active_daily_users": "Active daily users, impacted now",  # not "users impacted" (the incident field)
    "fix_confirmed_in_staging": "Fix confirmed in staging",
    "not_confirmed_reason": "Why the fix is not confirmed in staging",
    "description": "Description of the change",
    "reason": "Reason it cannot wait",
    "validation_steps": "Validation steps",
    "validated_by": "Who validated the fix",
    "confirm_after_cutoff": "Confirmation: this comes after the regular deploy cut-off",
    "confirm_cannot_wait": "Confirmation: it is critical and cannot wait for the next regular deploy",
    "confirm_postmortem": "Confirmation: I will write a postmortem within two business days",
    "proxies_changed": "The change touches proxies",
    "security_related": "The change is security-related",
}
TEXTS: Final = ("not_confirmed_reason", "description", "reason", "validation_steps", "validated_by")
FLAGS: Final = (
    "confirm_after_cutoff",
    "confirm_cannot_wait",
    "confirm_postmortem",
    "proxies_changed",
    "security_related",
)
MOVE_LABELS: Final = {
    "requested": "Send request to the platform team",
    "approved": "Approve",
    "deployed": "Mark deployed",
    "verified": "Mark verified in production",
    "rejected": "Reject",
    "cancelled": "Cancel request",
}
_LIMITS: Final = {"not_confirmed_reason": 5000, "validated_by": 200}


def blank() -> dict[str, Any]:
    """An empty form as the template shows it."""
    return {
        "prs": "",
        "platform_severity": "",
        "active_daily_users": "",
        "fix_confirmed_in_staging": "",
        **{name: "" for name in TEXTS},
        **{name: False for name in FLAGS},
    }


def saved(row: OobRequest) -> dict[str, Any]:
    """A stored request's form as the template shows it."""
    staged = row.fix_confirmed_in_staging
    return {
        "prs": "\n".join(row.prs or []),
        "platform_severity": row.platform_severity or "",
        "active_daily_users": "" if row.active_daily_users is None else str(row.active_daily_users),
        "fix_confirmed_in_staging": "" if staged is None else ("yes" if staged else "no"),
        **{name: getattr(row, name) or "" for name in TEXTS},
        **{name: bool(getattr(row, name)) for name in FLAGS},
    }


def typed(form: FormData) -> dict[str, Any]:
    """What the user sent, kept as typed so a refused form comes back unchanged."""

    def text(name: str, limit: int = 20000) -> str:
        return str(form.get(name) or "")[:limit]

    return {
        "prs": text("prs"),
        "platform_severity": text("platform_severity", 16),
        "active_daily_users": text("active_daily_users", 30),
        "fix_confirmed_in_staging": text("fix_confirmed_in_staging", 3),
        **{name: text(name) for name in TEXTS},
        **{name: bool(form.get(name)) for name in FLAGS},
    }


def parse(values: dict[str, Any]) -> OobForm:
    """Every field set (blank ones to None) so saving a draft can also clear a field."""
    users_text = str(values["active_daily_users"]).strip().replace(",", "").replace("_", "")
    try:
        users = int(users_text) if users_text else None
    except ValueError:
        raise Invalid(
            f"{LABELS['active_daily_users']} must be a whole number", {"field": "active_daily_users"}
        ) from None
    staged = {"yes": True, "no": False}.get(values["fix_confirmed_in_staging"])
    data: dict[str, Any] = {
        "prs": [p for p in re.split(r"\s+", values["prs"]) if p] or None,
        "platform_severity": values["platform_severity"] or None,
        "active_daily_users": users,
        "fix_confirmed_in_staging": staged,
        **{name: values[name].strip()[: _LIMITS.get(name, 20000)] or None for name in TEXTS},
        **{name: bool(values[name]) for name in FLAGS},
    }
    if staged is not False:
        data["not_confirmed_reason"] = data["not_confirmed_reason"] if staged is None else None
    return OobForm(**data)


def problem(exc: ValidationError) -> tuple[str, str]:
    """(field, message) naming the first bad field by its label."""
    first = exc.errors()[0]
    loc = [str(p) for p in first["loc"]]
    field = loc[0] if loc else "form"
    where = f" (line {int(loc[1]) + 1})" if field == "prs" and len(loc) > 1 and loc[1].isdigit() else ""
    return field, f"{LABELS.get(field, field)}{where}: {first['msg']}"
