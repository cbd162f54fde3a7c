"""The browser UI, mounted at / by create_app (ROUTER_MODULES)."""

from __future__ import annotations

from fastapi import APIRouter

from warroom.web import auth, deploy_pages, incident_pages, pages, report_pages

router = APIRouter(include_in_schema=False)
router.include_router(auth.router)
router.include_router(incident_pages.router)
router.include_router(deploy_pages.router)
router.include_router(report_pages.router)
router.include_router(pages.router)
