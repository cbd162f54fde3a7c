"""The vendored static files (htmx, our script and stylesheet), served from the package."""

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
}


@router.get("/static/{name}")
def static(name: str) -> Response:
    if name not in STATIC:
        raise HTTPException(404, "no such file")
    body = resources.files("warroom.web").joinpath("static", name).read_bytes()
    return Response(
        body,
        media_type=STATIC[name],
        headers={"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"},
    )
