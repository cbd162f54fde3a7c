"""A real SMTP server (aiosmtpd) on a free loopback port that records mail and takes scripted failures.

`server.fail_next("451 4.3.0 Try again later", "550 5.1.1 No such user")` answers the next DATA
commands with those replies instead of accepting the message.
"""

from __future__ import annotations

import email
import email.policy
import threading
import time
from collections import deque
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

from tests.support.server import free_port


class _Handler:
    def __init__(self, owner: SmtpServer) -> None:
        self.owner = owner

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd API
        return self.owner._received(envelope)


class SmtpServer:
    def __init__(self) -> None:
        self.port = free_port()
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.attempts = 0
        self._faults: deque[str] = deque()
        self.lock = threading.Condition()
        self.controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port)

    @property
    def host(self) -> str:
        return "127.0.0.1"

    def start(self) -> SmtpServer:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()

    def __enter__(self) -> SmtpServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def fail_next(self, *replies: str) -> None:
        with self.lock:
            self._faults.extend(replies)

    def _received(self, envelope: Any) -> str:
        with self.lock:
            self.attempts += 1
            if self._faults:
                self.lock.notify_all()
                return self._faults.popleft()
            msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
            self.messages.append(msg)  # type: ignore[arg-type]
            self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
            self.lock.notify_all()
        return "250 OK"

    def wait_for(self, count: int, timeout: float = 10) -> bool:
        deadline = time.monotonic() + timeout
        with self.lock:
            while len(self.messages) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.lock.wait(left)
            return True
