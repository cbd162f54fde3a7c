"""GET /api/v1/policy: the policy in force (secrets masked)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from warroom.api.deps import State, Viewer

router = APIRouter(prefix="/api/v1", tags=["admin"])


@router.get("/policy")
def show_policy(state: State, who: Viewer) -> dict[str, Any]:
    return state.policy.public_dict()
