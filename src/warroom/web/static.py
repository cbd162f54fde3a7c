"""The vendored static files (htmx, Swagger UI, our scripts and stylesheets) and /docs, served from the package:
nothing is loaded from another site, so the pages and the API docs work without internet."""

from __future__ import annotations

from importlib import resources

from fastapi import APIRouter, HTTPException
from fastapi.responses import Response

router = APIRouter(include_in_schema=False)
STATIC = {
    "htmx.min.js": "text/javascript",
    "app.js": "text/javascript",
    "app.css": "text/css",
    "status.css": "text/css",
    "swagger-ui-bundle.js": "text/javascript",  # swagger-ui-dist 5.35.0 (Apache-2.0, swagger-ui.LICENSE)
    "swagger-ui.css": "text/css",
    "docs.js": "text/javascript",
}


@router.get("/docs")
def docs() -> Response:
    """Swagger UI for /openapi.json, from our own static files under the one CSP."""
    body = resources.files("warroom.web").joinpath("templates", "docs.html").read_bytes()
    return Response(body, media_type="text/html; charset=utf-8", headers={"Cache-Control": "no-store"})


@router.get("/static/{name}")
def static(name: str) -> Response:
    if name not in STATIC:
        raise HTTPException(404, "no such file")
    body = resources.files("warroom.web").joinpath("static", name).read_bytes()
    return Response(
        body,
        media_type=STATIC[name],
        headers={"Cache-Control": "public, max-age=3600"},
    )
