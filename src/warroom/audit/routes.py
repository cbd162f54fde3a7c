"""GET /api/v1/audit: who changed what, through which channel (rows written by core.uow)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict

from warroom.api.deps import Admin, ReadDB
from warroom.core import audit
from warroom.core.bounds import UtcDateTime

router = APIRouter(prefix="/api/v1", tags=["admin"])


class AuditOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    at: datetime
    actor: str
    via: str
    action: str
    target: str | None
    details: dict[str, Any]


class AuditPage(BaseModel):
    items: list[AuditOut]
    total: int


@router.get("/audit", response_model=AuditPage)
def audit_log(
    db: ReadDB,
    who: Admin,
    actor: str | None = None,
    since: UtcDateTime | None = None,
    page: int = Query(1, ge=1, le=100_000),
    per_page: int = Query(100, ge=1, le=1000),
) -> AuditPage:
    rows, total = audit.list_entries(db, actor=actor, since=since, page=page, per_page=per_page)
    return AuditPage(items=[AuditOut.model_validate(r) for r in rows], total=total)
