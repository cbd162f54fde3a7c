"""Every table, so the metadata (and Alembic, and backups) see the whole schema."""

from warroom.alerts.models import Alert, AlertEvent
from warroom.core.audit import AuditEntry
from warroom.core.db import Base
from warroom.datadog.models import DatadogDelivery, DatadogMirror, DatadogPause, DatadogUser
from warroom.deploys.models import OobRequest
from warroom.incidents.models import (
    EscalationPage,
    Incident,
    IncidentService,
    PostmortemVersion,
    StatusUpdate,
    TimelineEntry,
)
from warroom.notifications.models import ChannelPace, Notification, SlackRoom, SlackThread
from warroom.oncall.models import OncallOverride, OncallSourceCache
from warroom.scheduler.models import DueJob, WorkerHeartbeat
from warroom.slack.models import SlackRequest
from warroom.users.models import ApiToken, AppSetting, User, WebSession

__all__ = [
    "Alert",
    "AlertEvent",
    "AuditEntry",
    "ApiToken",
    "AppSetting",
    "ChannelPace",
    "DatadogDelivery",
    "DatadogMirror",
    "DatadogPause",
    "DatadogUser",
    "Base",
    "DueJob",
    "Incident",
    "EscalationPage",
    "IncidentService",
    "Notification",
    "OncallOverride",
    "OncallSourceCache",
    "OobRequest",
    "PostmortemVersion",
    "SlackRequest",
    "SlackRoom",
    "SlackThread",
    "StatusUpdate",
    "TimelineEntry",
    "User",
    "WorkerHeartbeat",
    "WebSession",
]
