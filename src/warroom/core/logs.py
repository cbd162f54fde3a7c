"""Logging setup: plain or JSON lines, with request ids, and secrets never printed."""

from __future__ import annotations

import json
import logging
import re
import sys
from contextvars import ContextVar
from typing import Any

from warroom.core.settings import Settings

_SECRET = re.compile(
    r"(xox[abposr]-[A-Za-z0-9-]+"  # Slack tokens
    r"|wr[ui]_[A-Za-z0-9_-]{8,}"  # warroom API and ingest tokens
    r"|(?i:bearer|basic)\s+[A-Za-z0-9._~+/=-]+"  # Authorization header values
    r"|hooks\.slack\.com/\S+"  # Slack webhook and workflow URLs carry their secret
    r"|/services/T\w+/B\w+/\w+"  # the same path behind any host (a proxy, a fake)
    r"|/api/webhooks/\d+/[\w-]+"  # Discord webhook id and token
    r"|[\w.-]*webhook\.office\.com/\S+"  # Teams incoming webhooks (connectors)
    r"|/(?:webhookb2|IncomingWebhook)/\S+)"  # their paths behind any host
)
_SECRET_PARAM = re.compile(
    r"(?i)\b(token|access_token|password|passwd|secret|client_secret|api_key|apikey|key|code|sig|signature)"
    r"=([^&\s\"']+)"  # query strings (Azure/Teams workflows: ?code=, &sig=) and key=value text
)
_URL_PASSWORD = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^/\s:@]*):[^@\s/]+@")  # postgresql://user:PASS@
# Libraries that log each request's full URL at INFO (httpx: "HTTP Request: POST https://...").
QUIET_LOGGERS = ("httpx", "httpcore", "urllib3", "slack_sdk")

# The current request's id; the request middleware sets it, every log record carries it.
request_id_var: ContextVar[str | None] = ContextVar("warroom_request_id", default=None)
_EXTRA_KEYS = ("request_id", "incident", "notification", "method", "path", "status", "duration_ms", "client", "worker")


def redact(text: str) -> str:
    text = _URL_PASSWORD.sub(r"\1:[redacted]@", text)
    return _SECRET_PARAM.sub(r"\1=[redacted]", _SECRET.sub("[redacted]", text))


class RequestIdFilter(logging.Filter):
    """Stamp each record with the request id of the request that logged it (if any)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = request_id_var.get()
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "ts": self.formatTime(record),
            "level": record.levelname,
            "logger": record.name,
            "msg": redact(record.getMessage()),
        }
        for key in _EXTRA_KEYS:
            value = getattr(record, key, None)
            if value is not None:
                data[key] = redact(value) if isinstance(value, str) else value
        if record.exc_info:
            data["exc"] = redact(self.formatException(record.exc_info))
        return json.dumps(data, default=str)


class RedactingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        rid = getattr(record, "request_id", None)
        return redact(f"{text} [request_id={rid}]" if rid else text)


def make_handler(settings: Settings, stream: Any = None) -> logging.Handler:
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(
        JsonFormatter() if settings.log_json else RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    handler.addFilter(RequestIdFilter())
    return handler


def setup_logging(settings: Settings) -> None:
    root = logging.getLogger()
    root.handlers[:] = [make_handler(settings)]
    root.setLevel(settings.log_level.upper())
    for name in QUIET_LOGGERS:  # their URLs carry webhook secrets; their failures reach us as exceptions
        logging.getLogger(name).setLevel(logging.WARNING)
