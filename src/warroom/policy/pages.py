"""/policy in the browser: the policy in force, as YAML (secrets masked)."""

from __future__ import annotations

import yaml
from fastapi import APIRouter, Request
from fastapi.responses import Response

from warroom.api.deps import get_state
from warroom.web.auth import PageUser
from warroom.web.render import no_store, page

router = APIRouter()


@router.get("/policy")
def policy_page(request: Request, who: PageUser) -> Response:
    policy = get_state(request).policy
    text = yaml.safe_dump(policy.public_dict(), sort_keys=False, allow_unicode=True, width=100)
    return no_store(page(request, "policy.html", who=who, policy_yaml=text))
