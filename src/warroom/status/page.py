"""Render the public status page: a self-contained HTML document, no scripts."""

from __future__ import annotations

from importlib import resources

import jinja2

from warroom.status.schemas import StatusOut

_ENV = jinja2.Environment(
    loader=jinja2.FunctionLoader(
        lambda name: resources.files("warroom.status").joinpath("templates", name).read_text("utf-8")
    ),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)


def render(status: StatusOut, *, title: str, refresh_seconds: int) -> str:
    return _ENV.get_template("status.html").render(status=status, title=title, refresh=max(refresh_seconds, 10))
