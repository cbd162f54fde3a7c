"""Import every domain's ORM models so the metadata (and Alembic) sees the whole schema."""

from warroom.db import Base
from warroom.incidents.models import Incident, IncidentService, StatusUpdate, TimelineEntry
from warroom.ingest.models import Alert, AlertEvent
from warroom.notifications.models import Notification
from warroom.postmortems.models import PostmortemVersion
from warroom.reminders.models import DueJob
from warroom.users.models import ApiToken, AppSetting, User, WebSession

__all__ = [
    "Alert",
    "AlertEvent",
    "ApiToken",
    "AppSetting",
    "Base",
    "DueJob",
    "Incident",
    "IncidentService",
    "Notification",
    "PostmortemVersion",
    "StatusUpdate",
    "TimelineEntry",
    "User",
    "WebSession",
]
