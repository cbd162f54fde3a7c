"""The security headers, set in one place: every response, and the one CSP on every HTML page (/docs included)."""

from __future__ import annotations

from typing import Final

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Everything is served from this origin (Swagger UI too, vendored): no inline script or style, no framing.
CSP: Final = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'; object-src 'none'"
)
# On every response, also those the webhook gate answers before the middlewares.
HEADERS: Final = ((b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"same-origin"))
HTML_HEADERS: Final = ((b"x-frame-options", b"DENY"), (b"content-security-policy", CSP.encode()))


class SecurityHeaders:
    """Pure ASGI: adds headers without buffering bodies (so streaming responses still stream)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {k.lower() for k, _ in headers}
                ctype = next((v for k, v in headers if k.lower() == b"content-type"), b"")
                add = [*HEADERS, *(HTML_HEADERS if ctype.startswith(b"text/html") else ())]
                headers += [(k, v) for k, v in add if k not in names]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
