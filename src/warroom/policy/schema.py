"""The policy file's shape: every number of the process is data a team can change."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from warroom.policy.base import Duration, Priority, Strict
from warroom.policy.durations import format_duration
from warroom.policy.integrations import Datadog, Paging, SlackApp
from warroom.policy.schedules import EscalationPolicy, Schedule, check_names

PRIORITIES: tuple[str, ...] = ("P1", "P2", "P3", "P4")
SEVERITY_RE = re.compile(r"^SEV-[1-9]$")
EVENTS = (
    "declared",
    "update",
    "state_changed",
    "severity_changed",
    "priority_changed",
    "resolved",
    "completed",
    "reminder",
    "escalation",
    "declare_prompt",
    "oob",
    "commander_changed",
    "page",
)


class PriorityMatrix(Strict):
    """`thresholds[i]` is a strict lower bound of users/hour; row cell i applies above it."""

    thresholds: list[int] = Field(min_length=1)
    tiers: dict[int, list[Priority]]

    @model_validator(mode="after")
    def _shape(self) -> PriorityMatrix:
        if sorted(self.thresholds, reverse=True) != self.thresholds:
            raise ValueError("thresholds must be listed from highest to lowest")
        for tier, row in self.tiers.items():
            if len(row) != len(self.thresholds):
                raise ValueError(
                    f"tier {tier} has {len(row)} priorities but there are {len(self.thresholds)} thresholds"
                )
        return self


class UnknownImpact(Strict):
    """The 15-minute rule: an alert with no user figure escalates if it keeps firing."""

    escalation_window: Duration = timedelta(minutes=15)
    escalate_tiers: list[int] = [1]
    escalate_to: Priority = "P1"


class Severity(Strict):
    key: str
    name: str
    description: str = ""
    example: str = ""
    response_within: str = ""

    @field_validator("key")
    @classmethod
    def _key(cls, value: str) -> str:
        if not SEVERITY_RE.match(value):
            raise ValueError("severity keys look like SEV-1 .. SEV-9")
        return value


class Cadence(Strict):
    """How often a status update must go out while an incident is open."""

    default: Duration = timedelta(minutes=30)
    per_priority: dict[Priority, Duration] = {}
    remind_before: Duration = timedelta(minutes=5)
    auto_update: bool = True
    escalate_after_missed: int = Field(default=2, ge=1)
    backup_contact: str | None = None

    def for_priority(self, priority: str) -> timedelta:
        return self.per_priority.get(priority, self.default)  # type: ignore[call-overload]


class Channel(Strict):
    """Where a message goes; secrets may be given as `${ENV_VAR}`."""

    type: Literal["slack", "slack_webhook", "webhook", "email", "log", "pagerduty"]
    channel: str | None = None
    routing_key: str | None = None  # pagerduty: the Events API v2 integration key (give it as `${ENV_VAR}`)
    url: str | None = None
    secret: str | None = None
    to: list[str] = []
    pace: Duration | None = None
    reply_broadcast: list[str] = []  # events whose thread replies are also shown in the channel (Slack)

    @model_validator(mode="after")
    def _needs(self) -> Channel:
        needs = {"slack": "channel", "slack_webhook": "url", "webhook": "url", "pagerduty": "routing_key"}
        needed = needs.get(self.type)
        if needed and not getattr(self, needed):
            raise ValueError(f"a {self.type} channel needs '{needed}'")
        if self.type == "email" and not self.to:
            raise ValueError("an email channel needs 'to' (a list of addresses)")
        unknown = [e for e in self.reply_broadcast if e not in EVENTS]
        if unknown:
            raise ValueError(f"reply_broadcast: unknown event(s) {unknown}; expected some of {', '.join(EVENTS)}")
        return self


class Notifications(Strict):
    """Delivery: a message is retried (capped exponential backoff) for `retry_for`, so an outage
    of the receiver loses nothing; `max_attempts`, when set, also caps the number of tries."""

    retry_for: Duration = timedelta(hours=6)
    max_attempts: int | None = Field(default=None, ge=1)
    backoff_base: Duration = timedelta(seconds=2)
    backoff_max: Duration = timedelta(minutes=2)
    lease: Duration = timedelta(seconds=60)
    slack_pace: Duration = timedelta(seconds=1)
    timeout: Duration = timedelta(seconds=10)
    jitter: float = Field(default=0.2, ge=0, le=1)
    batch: int = Field(default=50, ge=1)
    concurrency: int = Field(default=8, ge=1, le=64)
    base_url: str = "http://127.0.0.1:8000"
    slack_groups: dict[str, str] = {}  # backup_contact or handle -> Slack user group id (S0123): `<!subteam^ID>`

    @field_validator("slack_groups")
    @classmethod
    def _group_ids(cls, value: dict[str, str]) -> dict[str, str]:
        bad = sorted(k for k, v in value.items() if not re.fullmatch(r"S[A-Z0-9]{2,30}", v))
        if bad:
            raise ValueError(f"slack_groups {bad}: a Slack user group id looks like S0123ABCD")
        return value


class AlertMatch(Strict):
    """All given conditions must hold. Values may be a string, a list of strings, or `*`."""

    tags: dict[str, str | list[str]] = {}
    monitor_ids: list[str] = []
    sources: list[str] = []
    title_contains: str | None = None


class Service(Strict):
    key: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    name: str
    owned: bool = True
    runbook: str = ""
    oncall: str | None = None
    escalation_policy: str | None = None  # who is paged, level after level (docs/oncall.md)
    match: list[AlertMatch] = []


class SeverityRule(Strict):
    """Suggest a severity from the alerts of one incident (reference: csp counts)."""

    id: str
    distinct_tag: str
    min_count: int = Field(ge=1)
    production_only: bool = True
    severity: str


MAX_CLOCK_SKEW = timedelta(hours=1)  # beyond this a "skew" is a wrong clock, not a tolerance


class Triage(Strict):
    """How alerts become incidents. The environment (`environment_keys`, its tier) is part of
    grouping; `clock_skew` bounds how far in the future a sender's start time may be; a re-fire of
    one alert key within `flap_window` of its recovery continues the same episode and its clock."""

    environment_keys: list[str] = ["env", "environment"]
    users_keys: list[str] = ["users_per_hour", "users_affected"]
    service_keys: list[str] = ["service"]
    fallback_service: str = "unmapped"
    auto_declare: bool = True
    grouping_window: Duration = timedelta(hours=4)
    stability_window: Duration = timedelta(minutes=10)
    reopen_window: Duration = timedelta(minutes=30)
    clock_skew: Duration = timedelta(minutes=5)
    flap_window: Duration = timedelta(minutes=5)
    resolve_via_stable: bool = False
    non_production_cap: Priority = "P3"
    default_severity: str = "SEV-3"
    severity_rules: list[SeverityRule] = []

    @model_validator(mode="after")
    def _windows(self) -> Triage:
        if self.clock_skew > MAX_CLOCK_SKEW:
            raise ValueError(
                f"clock_skew: {format_duration(self.clock_skew)} is not a sane clock skew (at most 1h): "
                "a sender whose clock is further off should be fixed, not trusted"
            )
        if self.flap_window > self.grouping_window:
            raise ValueError("flap_window: longer than grouping_window (an episode would outlive its grouping)")
        return self


class Completion(Strict):
    required_fields: list[Literal["users_impacted", "impacts", "detection_method", "postmortem"]] = [
        "users_impacted",
        "impacts",
        "detection_method",
        "postmortem",
    ]
    commander_only: bool = True


ServiceStatus = Literal["operational", "degraded", "outage"]


class StatusPage(Strict):
    """The public service status: open incidents by severity, firing alerts with no incident."""

    severity_status: dict[str, ServiceStatus] = {}
    # A stable (mitigated) incident's status by severity; a severity not listed: severity_status.
    stable_severity_status: dict[str, ServiceStatus] = {}
    unmapped_severity: ServiceStatus = "degraded"
    firing_alert_without_incident: ServiceStatus = "degraded"
    alert_tiers: list[int] = [1]
    cache_max_age: Duration = timedelta(seconds=30)
    title: str = "Service status"


USER_ROLES: tuple[str, ...] = ("viewer", "responder", "admin")
# The platform team's OOB checklist items (deploys.states labels them); named here so the policy can refer to them.
OOB_CHECKLIST_ITEMS: tuple[str, ...] = (
    "paging_incident",
    "leadership_ack",
    "channels_notified",
    "infrastructure_ack",
    "security_review",
)


class Oob(Strict):
    """Out-of-band deploys: the postmortem deadline and separation of duties."""

    postmortem_due_business_days: int = Field(default=2, ge=0)
    timezone: str = "UTC"
    approver_differs_from_requester: bool = True
    # item -> roles that may tick it: a user role (viewer/responder/admin) or an incident role held on the incident
    checklist_roles: dict[str, list[str]] = {}

    @field_validator("checklist_roles")
    @classmethod
    def _items(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        unknown = sorted(set(value) - set(OOB_CHECKLIST_ITEMS))
        if unknown:
            raise ValueError(f"unknown checklist item(s) {unknown}; expected one of {', '.join(OOB_CHECKLIST_ITEMS)}")
        empty = sorted(k for k, v in value.items() if not v)
        if empty:
            raise ValueError(f"checklist item(s) {empty} list no role (leave the item out to let anyone tick it)")
        return value

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone '{value}' (use an IANA name like Europe/Berlin)") from None
        return value


class Worker(Strict):
    heartbeat_every: Duration = timedelta(seconds=5)
    stale_after: Duration = timedelta(seconds=60)
    poll_interval: Duration = timedelta(milliseconds=500)
    job_batch: int = Field(default=20, ge=1)  # due jobs per pass, so deliveries interleave with jobs


class Policy(Strict):
    version: Literal[1] = 1
    team: str
    environments: dict[str, int]
    default_tier: int = 3
    priority: PriorityMatrix
    must_declare: list[Priority] = ["P1"]
    unknown_impact: UnknownImpact = UnknownImpact()
    severities: list[Severity] = Field(min_length=1)
    cadence: Cadence = Cadence()
    channels: dict[str, Channel] = {}
    routes: dict[str, list[str]] = {}
    title_template: str = "{service} is experiencing degraded service"
    services: list[Service] = []
    triage: Triage = Triage()
    completion: Completion = Completion()
    status_page: StatusPage = StatusPage()
    oob: Oob = Oob()
    notifications: Notifications = Notifications()
    worker: Worker = Worker()
    datadog: Datadog = Datadog()
    slack: SlackApp = SlackApp()
    postmortem_template: str | None = None
    schedules: dict[str, Schedule] = {}
    escalation_policies: dict[str, EscalationPolicy] = {}
    paging: Paging = Paging()
    # who may command an incident: active users with one of these roles (never free text)
    commander_roles: list[Literal["viewer", "responder", "admin"]] = Field(default=["responder", "admin"], min_length=1)
    roles: list[str] = [
        "commander",
        "technical_lead",
        "oncall_responder",
        "security_analyst",
        "platform_support_coordinator",
        "stakeholder_liaison",
    ]

    @model_validator(mode="after")
    def _cross_refs(self) -> Policy:
        tiers = set(self.priority.tiers)
        for env, tier in self.environments.items():
            if tier not in tiers:
                raise ValueError(f"environments.{env}: tier {tier} has no row in priority.tiers")
        if self.default_tier not in tiers:
            raise ValueError(f"default_tier: tier {self.default_tier} has no row in priority.tiers")
        for event, names in self.routes.items():
            if event not in EVENTS:
                raise ValueError(f"routes.{event}: unknown event; expected one of {', '.join(EVENTS)}")
            for name in names:
                if name not in self.channels:
                    raise ValueError(f"routes.{event}: channel '{name}' is not defined in channels")
                if self.channels[name].type == "pagerduty" and event != "page":
                    raise ValueError(
                        f"routes.{event}: '{name}' is a pagerduty channel, which only takes the `page` event"
                    )
        keys = [s.key for s in self.services]
        dupes = {k for k in keys if keys.count(k) > 1}
        if dupes:
            raise ValueError(f"services: duplicate service key(s) {sorted(dupes)}")
        sev_keys = {s.key for s in self.severities}
        for rule in self.triage.severity_rules:
            if rule.severity not in sev_keys:
                raise ValueError(f"triage.severity_rules.{rule.id}: unknown severity {rule.severity}")
        if self.triage.default_severity not in sev_keys:
            raise ValueError(f"triage.default_severity: unknown severity {self.triage.default_severity}")
        if self.datadog.inbound_service and self.datadog.inbound_service not in keys:
            raise ValueError(f"datadog.inbound_service: unknown service {self.datadog.inbound_service}")
        for item, names in self.oob.checklist_roles.items():
            bad = [r for r in names if r not in USER_ROLES and r not in self.roles]
            if bad:
                raise ValueError(
                    f"oob.checklist_roles.{item}: unknown role(s) {bad}; use a user role "
                    f"({', '.join(USER_ROLES)}) or an incident role from `roles`"
                )
        for name in ("severity_status", "stable_severity_status"):
            for sev in getattr(self.status_page, name):
                if sev not in sev_keys:
                    raise ValueError(f"status_page.{name}.{sev}: unknown severity")
        check_names(self.schedules, self.escalation_policies, {s.key: s.escalation_policy for s in self.services})
        try:
            self.title_template.format(service="x", services="x", title="x", priority="P1")
        except (KeyError, IndexError) as exc:
            raise ValueError(f"title_template: unknown placeholder {exc}; use {{service}} or {{priority}}") from None
        return self

    # Lookups used everywhere; kept here so callers never walk the raw structure.
    def service(self, key: str) -> Service | None:
        return next((s for s in self.services if s.key == key), None)

    def severity_keys(self) -> list[str]:
        return [s.key for s in self.severities]

    def tier_for_environment(self, env: str | None) -> int:
        if env is None:
            return self.default_tier
        return self.environments.get(env.strip().lower(), self.default_tier)

    def cadence_for(self, priority: str) -> timedelta:
        return self.cadence.for_priority(priority)

    def channels_for(self, event: str) -> list[str]:
        return list(self.routes.get(event, []))

    def public_dict(self) -> dict[str, Any]:
        """The policy as JSON with channel secrets masked, for the read-only policy views."""
        data = self.model_dump(mode="json")
        for chan in data.get("channels", {}).values():
            for secret_key in ("url", "secret", "routing_key"):
                if chan.get(secret_key) and chan["type"] != "slack":
                    chan[secret_key] = "***"
        for schedule in data.get("schedules", {}).values():
            if schedule.get("ical"):  # a private calendar's URL is its password
                schedule["ical"]["url"] = "/".join(schedule["ical"]["url"].split("/")[:3]) + "/***"
        return data
