"""Helpers for the web UI tests: users with passwords and a signed-in HTTP client."""

from __future__ import annotations

import re

import httpx

from tests.support.server import Running, http_client
from warroom.users import service as users

PASSWORD = "correct horse battery"
CSRF_RE = re.compile(r'name="csrf" value="([^"]+)"')


def make_web_user(server: Running, handle: str, role: str = "responder", password: str = PASSWORD) -> str:
    with server.state.sessions.begin() as s:
        user = users.by_handle(s, handle) or users.create_user(s, now=server.state.now(), handle=handle, role=role)
        users.set_password(user, password)
    return handle


def csrf_of(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "no CSRF field in the page"
    return match.group(1)


def login(server: Running, handle: str, password: str = PASSWORD) -> tuple[httpx.Client, str]:
    """A client with the session cookie, and the session's CSRF token."""
    client = http_client(base_url=server.url, timeout=30)
    page = client.get("/login")
    assert page.status_code == 200
    r = client.post("/login", data={"handle": handle, "password": password, "csrf": csrf_of(page.text), "next": "/"})
    assert r.status_code == 303, r.text
    home = client.get("/")
    assert home.status_code == 200, home.text
    return client, csrf_of(home.text)
