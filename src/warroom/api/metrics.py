"""GET /metrics for Prometheus (counts only; restrict it at the proxy if you must)."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST

from warroom import metrics
from warroom.api.deps import ReadDB, State

router = APIRouter(tags=["health"])


@router.get("/metrics", include_in_schema=False)
def scrape(state: State, db: ReadDB) -> Response:
    return Response(
        metrics.exposition(db, now=state.now()), media_type=CONTENT_TYPE_LATEST, headers={"Cache-Control": "no-store"}
    )
