"""Logging setup: plain or JSON lines, with request ids, and secrets never printed."""

from __future__ import annotations

import json
import logging
import re
import sys
from typing import Any

from warroom.settings import Settings

_SECRET = re.compile(r"(xox[abposr]-[A-Za-z0-9-]+|wr[ui]_[A-Za-z0-9_-]{20,}|Bearer\s+\S+)")


def redact(text: str) -> str:
    return _SECRET.sub("[redacted]", text)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {"ts": self.formatTime(record), "level": record.levelname,
                                "logger": record.name, "msg": redact(record.getMessage())}
        for key in ("request_id", "incident", "notification"):
            if hasattr(record, key):
                data[key] = getattr(record, key)
        if record.exc_info:
            data["exc"] = redact(self.formatException(record.exc_info))
        return json.dumps(data)


class RedactingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def setup_logging(settings: Settings) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if settings.log_json else
                         RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level.upper())
