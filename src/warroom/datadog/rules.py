"""Pure mapping of our incident to Datadog's JSON:API bodies, and of Datadog's notification to our fields."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

# Datadog knows active, stable, resolved (completed only where an org enabled it): ours map onto those.
STATES = {"active": "active", "stable": "stable", "resolved": "resolved", "completed": "resolved"}
SEVERITIES = ("SEV-0", "SEV-1", "SEV-2", "SEV-3", "SEV-4", "SEV-5")
KEEP_SENT = 20  # fingerprints of recent states sent, to know our own echoes


@dataclass(frozen=True)
class Snapshot:
    """Our incident as the mirror sends it: read in the claim's transaction (always the latest state)."""

    ref: str
    title: str
    state: str
    severity: str
    commander_email: str | None
    users_impacted: int | None
    impacts: str | None
    declared_at: datetime
    first_alert_at: datetime | None
    resolved_at: datetime | None
    link: str
    tasks: list[str] = field(default_factory=list)
    postmortem_url: str | None = None


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def severity(ours: str) -> str:
    return ours if ours in SEVERITIES else "UNKNOWN"


def impacted(snap: Snapshot) -> bool:
    return bool(snap.users_impacted) or bool((snap.impacts or "").strip())


def fingerprint(title: str, severity_: str, state: str) -> str:
    """What both sides can compare: our state sent, or a state Datadog notified us of."""
    raw = "\x1f".join((title.strip(), severity_.strip().upper(), state.strip().lower()))
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


def snapshot_fingerprint(snap: Snapshot) -> str:
    return fingerprint(snap.title, severity(snap.severity), STATES.get(snap.state, snap.state))


def _attributes(snap: Snapshot) -> dict[str, Any]:
    attrs: dict[str, Any] = {
        "title": snap.title,
        "customer_impacted": impacted(snap),
        "fields": {
            "severity": {"type": "dropdown", "value": severity(snap.severity)},
            "state": {"type": "dropdown", "value": STATES.get(snap.state, "active")},
        },
    }
    if impacted(snap):
        scope = (snap.impacts or "").strip() or f"{snap.users_impacted} users"
        attrs["customer_impact_scope"] = scope[:1000]
    return attrs


def _commander(user_id: str | None) -> dict[str, Any]:
    return {"commander_user": {"data": {"type": "users", "id": user_id} if user_id else None}}


def cell(snap: Snapshot, marker: str) -> str:
    """The initial cell: the link back to warroom, and the hidden marker a retried create looks for."""
    return (
        f"Run from warroom as [{snap.ref}]({snap.link}): status updates, roles and the timeline live there.\n\n"
        f"<!-- {marker} -->"
    )


def create_body(snap: Snapshot, *, marker: str, commander_id: str | None) -> dict[str, Any]:
    attrs = _attributes(snap)
    attrs["initial_cells"] = [{"cell_type": "markdown", "content": {"content": cell(snap, marker)}}]
    body: dict[str, Any] = {"data": {"type": "incidents", "attributes": attrs}}
    if commander_id:
        body["data"]["relationships"] = _commander(commander_id)
    return body


def patch_body(snap: Snapshot, *, datadog_id: str, commander_id: str | None) -> dict[str, Any]:
    """The latest full state: every field we own, every time (a lost PATCH is repaired by the next)."""
    attrs = _attributes(snap)
    if not impacted(snap):
        attrs["customer_impact_scope"] = None
    attrs["detected"] = _iso(snap.first_alert_at or snap.declared_at)
    attrs["customer_impact_start"] = _iso(snap.first_alert_at or snap.declared_at) if impacted(snap) else None
    attrs["customer_impact_end"] = _iso(snap.resolved_at) if impacted(snap) else None
    attrs["resolved"] = _iso(snap.resolved_at)
    return {
        "data": {"id": datadog_id, "type": "incidents", "attributes": attrs, "relationships": _commander(commander_id)}
    }


def remember(sent: list[str], fp: str, now: datetime) -> list[str]:
    """Keep `fingerprint@epoch` of the states recently sent (the newest last)."""
    return [*(x for x in sent if not x.startswith(fp + "@")), f"{fp}@{int(now.timestamp())}"][-KEEP_SENT:]


def sent_recently(sent: list[str], fp: str, now: datetime, window: timedelta) -> bool:
    """Our own state coming back (Datadog notifies every change, ours too): only within `window`, so a
    person in Datadog who later puts back a state we once sent is still heard."""
    for item in sent:
        got, _, at = item.partition("@")
        if got == fp and at.isdigit() and now.timestamp() - int(at) <= window.total_seconds():
            return True
    return False


# ---- inbound: a Datadog incident notification rule's webhook


@dataclass(frozen=True)
class Inbound:
    """What a notification says about one Datadog incident (values may be empty where unset)."""

    id: str
    public_id: int | None
    title: str
    severity: str
    state: str
    url: str | None
    commander_email: str | None
    services: list[str]


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return ""
    return str(value).strip()


def _values(value: Any) -> list[str]:
    """A field value as Datadog renders it: a list, a JSON list, `a,b`, or `{"value": ...}`."""
    if isinstance(value, dict):
        value = value.get("value")
    if isinstance(value, list):
        return [str(v).strip() for v in value if str(v).strip()]
    if isinstance(value, str):
        return [v.strip() for v in value.strip("[]").replace('"', "").split(",") if v.strip()]
    return []


def parse_inbound(body: Any) -> Inbound:
    """Read the payload of docs/datadog.md; raise ValueError with what is missing."""
    if not isinstance(body, dict):
        raise ValueError("the body is a JSON object")
    incident_id = _text(body.get("id") or body.get("uuid"))
    if not incident_id:
        raise ValueError("'id' ($INCIDENT_UUID) is required")
    public = _text(body.get("public_id"))
    raw_fields = body.get("fields")
    fields: dict[str, Any] = raw_fields if isinstance(raw_fields, dict) else {}
    commander = body.get("commander")
    email = None
    if isinstance(commander, dict):
        inner = commander.get("attributes")
        attrs: dict[str, Any] = inner if isinstance(inner, dict) else commander
        email = _text(attrs.get("email")) or None
    elif isinstance(commander, str) and "@" in commander:
        email = commander.strip()
    sev = _text(body.get("severity")) or " ".join(_values(fields.get("severity"))) or "UNKNOWN"
    state = (_text(body.get("status")) or " ".join(_values(fields.get("state"))) or "active").lower()
    tags = _values(body.get("tags"))
    services = _values(fields.get("services")) + [t.split(":", 1)[1] for t in tags if t.startswith("service:")]
    return Inbound(
        id=incident_id,
        public_id=int(public) if public.isdigit() else None,
        title=_text(body.get("title")) or f"Datadog incident {public or incident_id}",
        severity=sev.upper(),
        state=state,
        url=_text(body.get("url")) or None,
        commander_email=email,
        services=list(dict.fromkeys(s.lower() for s in services)),
    )
