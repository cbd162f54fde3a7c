"""The reports JSON contract."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel

GroupBy = Literal["month", "priority", "service", "severity"]


class ReportRow(BaseModel):
    key: str
    incidents: int
    acknowledged: int
    mitigated: int
    resolved: int
    mtta_seconds: float | None
    time_to_mitigate_seconds: float | None
    time_to_resolve_seconds: float | None
    updates: int
    updates_on_time: int
    late_updates: int
    update_compliance: float | None
    missed_updates: int
    alerts: int
    alerts_per_incident: float | None
    oob_requests: int
    oob_deploys: int


class Report(BaseModel):
    start: datetime
    end: datetime
    group_by: GroupBy
    generated_at: datetime
    rows: list[ReportRow]
    total: ReportRow


class PersonPages(BaseModel):
    user: str
    month: str  # YYYY-MM (UTC)
    pages: int
    out_of_hours: int


class PagingReport(BaseModel):
    """Pages sent in [start, end): MTTA from the first page to the acknowledgement."""

    start: datetime
    end: datetime
    generated_at: datetime
    incidents_paged: int
    pages: int
    out_of_hours_pages: int
    acknowledged: int
    unacknowledged: int
    mtta_seconds: float | None
    acknowledged_by_level: dict[str, int]
    people: list[PersonPages]
