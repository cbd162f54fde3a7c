"""The policy sections of the tools warroom meets the team in: Slack as an entry point, paging,
and the Datadog Incidents mirror."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import Field

from warroom.policy.base import Duration, Priority, Strict
from warroom.policy.schedules import TimeZone, Weekday


class IncidentChannels(Strict):
    """A Slack channel of its own per incident (off unless priorities are listed): created, the
    commander and on-call invited, topic and bookmark set, the card posted, archived on completion."""

    priorities: list[Priority] = []
    prefix: str = Field(default="inc", pattern=r"^[a-z0-9][a-z0-9_-]{0,20}$")
    archive_on_completion: bool = True


class SlackApp(Strict):
    """Slack as an entry point: the slash command's name and who may use it."""

    command: str = Field(default="/warroom", pattern=r"^/[a-z0-9_-]{1,31}$")
    create_unknown_users: bool = False  # an unknown Slack user becomes a viewer (cannot declare or act)
    incident_channels: IncidentChannels = IncidentChannels()
    # how long a request Slack sent is remembered to recognise its retries, double clicks and submits
    remember_requests: Duration = timedelta(days=1)


class WorkingHours(Strict):
    """When pages are "in hours" for the reports (outside them a page is out-of-hours)."""

    timezone: TimeZone = "UTC"
    days: list[Weekday] = ["mon", "tue", "wed", "thu", "fri"]
    start: str = Field(default="09:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    end: str = Field(default="18:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")


class Paging(Strict):
    """Which priorities page the service's escalation policy (others only post), and how pages are sent."""

    priorities: list[Priority] = ["P1"]
    pagerduty_severity: dict[Priority, Literal["critical", "error", "warning", "info"]] = {
        "P1": "critical",
        "P2": "error",
        "P3": "warning",
        "P4": "info",
    }
    email_paged: bool = True  # email channels routed `page` also write to the paged person's e-mail
    working_hours: WorkingHours = WorkingHours()


class Datadog(Strict):
    """The Datadog Incidents mirror (on once WARROOM_DATADOG_API_KEY and _APP_KEY are set): which of
    our incidents stand there too, and how incidents declared there are taken in."""

    priorities: list[Priority] = ["P1", "P2"]  # our incidents mirrored to Datadog
    coalesce: Duration = timedelta(seconds=2)  # wait this long after a change: a burst is one PATCH
    auth_retry: Duration = timedelta(minutes=1)  # paused on 401/403: try again this often
    echo_window: Duration = timedelta(minutes=5)  # a notification of a state we sent this recently is our echo
    todos: bool = True  # pending tasks become Datadog todos
    inbound_priority: dict[str, Priority] = {"SEV-1": "P1", "SEV-2": "P2", "SEV-3": "P3"}  # else P4
    inbound_service: str | None = None  # service of a Datadog incident naming none of ours
