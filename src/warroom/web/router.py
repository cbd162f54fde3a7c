"""The browser UI, mounted at / by create_app (ROUTER_MODULES)."""

from __future__ import annotations

from fastapi import APIRouter

from warroom.web import auth, incident_pages, pages

router = APIRouter(include_in_schema=False)
router.include_router(auth.router)
router.include_router(incident_pages.router)
router.include_router(pages.router)
