"""Process settings from the environment or `.env` (WARROOM_*); the process itself lives in the policy."""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from warroom.policy.schema import Policy


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="WARROOM_", env_file=".env", extra="ignore")

    database_url: str = "sqlite:///./warroom.db"
    policy: str | None = Field(default=None, description="Policy file path; empty = bundled reference")
    host: str = "127.0.0.1"
    port: int = 8000
    base_url: str | None = None
    slack_token: str | None = None
    slack_api_url: str = "https://slack.com/api/"
    slack_signing_secret: str | None = Field(
        default=None, description="Slack app's signing secret: /slack/events refuses everything without it"
    )
    pagerduty_token: str | None = Field(default=None, description="PagerDuty REST API key for `pagerduty` schedules")
    pagerduty_api_url: str = "https://api.pagerduty.com/"
    pagerduty_events_url: str = Field(
        default="https://events.pagerduty.com/", description="PagerDuty Events API v2 host for `pagerduty` channels"
    )
    datadog_site: str = Field(
        default="datadoghq.com",
        description="Datadog site of the incident mirror (us3.datadoghq.com, datadoghq.eu, ...)",
    )
    datadog_api_key: str | None = Field(
        default=None, description="Datadog API key; with the app key, turns the incident mirror on"
    )
    datadog_app_key: str | None = Field(
        default=None, description="Datadog application key (incident_read, incident_write, user_access_read)"
    )
    datadog_api_url: str | None = Field(default=None, description="Overrides the site's API base (proxies, tests)")
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    smtp_from: str = "warroom@localhost"
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    password_kdf: Literal["rfc9106-low-memory", "owasp-minimum"] = "rfc9106-low-memory"
    log_json: bool = False
    log_level: str = "INFO"
    max_body_bytes: int = 1_048_576
    max_ingest_body_bytes: int = Field(
        default=8_388_608,
        description="Largest alert webhook body (an Alertmanager group of 10,000 alerts is 3-5 MB); "
        "every other request: max_body_bytes",
    )
    ingest_chunk_alerts: int = Field(
        default=500,
        ge=1,
        description="Alerts of one webhook stored per transaction: a bigger group (an alert storm) is stored "
        "a chunk at a time, so people's writes never wait for the whole of it",
    )
    db_pool_size: int = 10
    db_max_overflow: int = 10
    secure_cookies: bool = False
    ingest_writer: Literal["auto", "process", "thread"] = Field(
        default="auto",
        description="Where `serve` stores alerts: a writer process of its own, or a "
        "thread of the web server; auto = process on PostgreSQL, thread on SQLite",
    )
    ingest_rate_per_s: float = 500.0
    ingest_burst: int = 1000
    ingest_failures_per_min: float = Field(
        default=30.0, description="Failed ingest attempts (no or a wrong token) refilled per minute, per client address"
    )
    ingest_failure_burst: int = Field(
        default=20, description="Failed ingest attempts a client address may make before it is answered 429"
    )
    ingest_token_recheck_seconds: float = Field(
        default=30.0,
        description="How long the ingest gate trusts a token it verified before reading the database again "
        "(the writer checks every batch's tokens anyway: a revoked token stores nothing)",
    )
    ingest_body_token_max_bytes: int = Field(
        default=524_288,
        description="Largest PagerDuty-style event whose token is only in its body (routing_key), read before "
        "that token is verified (PagerDuty's own limit is 512 KB); a token in the header has max_body_bytes",
    )
    login_rate_per_min: float = 10.0
    login_burst: int = 5
    trusted_proxies: str = Field(
        default="",
        description="Comma-separated addresses or networks (CIDR) of the proxies whose X-Forwarded-For and "
        "X-Forwarded-Proto are believed; empty = none, the peer address is the client",
    )
    password_concurrency: int = Field(
        default=2, ge=1, description="Password checks computed at once per process (each takes the KDF's memory)"
    )
    web_session_hours: float = 12
    web_poll_seconds: float = 5

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: str) -> str:
        """A typo must stop the start, not silently trust nobody (or everybody)."""
        for item in proxy_list(value):
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(f"'{item}' is not an IP address or network (CIDR)") from None
        return value


def proxy_list(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def writer_process_wanted(settings: Settings) -> bool:
    """Whether `serve` runs the ingest writer in a process of its own."""
    if settings.ingest_writer == "auto":
        return not settings.database_url.startswith("sqlite")
    return settings.ingest_writer == "process"


def in_force(policy: Policy, settings: Settings) -> Policy:
    """The policy as this process runs it: `WARROOM_BASE_URL`, when set, wins over the policy's
    `notifications.base_url` for the links in notifications (one place, for serve, worker and CLI)."""
    base = (settings.base_url or "").strip()
    if not base or base == policy.notifications.base_url:
        return policy
    notifications = policy.notifications.model_copy(update={"base_url": base})
    return policy.model_copy(update={"notifications": notifications})


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
