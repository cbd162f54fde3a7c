"""Import every domain's ORM models so the metadata (and Alembic) sees the whole schema."""

from warroom.audit.models import AuditEntry
from warroom.db import Base
from warroom.deploys.models import OobRequest
from warroom.incidents.models import Incident, IncidentService, StatusUpdate, TimelineEntry
from warroom.ingest.models import Alert, AlertEvent
from warroom.notifications.models import ChannelPace, Notification, SlackThread, WorkerHeartbeat
from warroom.postmortems.models import PostmortemVersion
from warroom.reminders.models import DueJob
from warroom.users.models import ApiToken, AppSetting, User, WebSession

__all__ = [
    "Alert",
    "AlertEvent",
    "AuditEntry",
    "ApiToken",
    "AppSetting",
    "ChannelPace",
    "Base",
    "DueJob",
    "Incident",
    "IncidentService",
    "Notification",
    "OobRequest",
    "PostmortemVersion",
    "SlackThread",
    "StatusUpdate",
    "TimelineEntry",
    "User",
    "WorkerHeartbeat",
    "WebSession",
]
