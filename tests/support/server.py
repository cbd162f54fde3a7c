"""Run a real warroom (uvicorn) on a free loopback port inside the test process."""

from __future__ import annotations

import socket
import ssl
import threading
import time
from dataclasses import dataclass
from typing import Any

import httpx
import uvicorn

from warroom.app import WarroomApp
from warroom.core.state import AppState

# httpx builds an SSL context (loading the CA bundle: ~50 ms of CPU) for every client it is not
# given one; the tests speak plain HTTP over loopback, so one shared context serves them all.
SSL_CONTEXT = ssl.create_default_context()


def http_client(**kw: Any) -> httpx.Client:
    return httpx.Client(verify=SSL_CONTEXT, **kw)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ThreadedServer:
    """uvicorn in a thread; stops cleanly so the next test gets a fresh server."""

    def __init__(self, app: Any, port: int | None = None) -> None:
        self.port = port or free_port()
        self.config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", access_log=False, lifespan="on"
        )
        self.server = uvicorn.Server(self.config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ThreadedServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@dataclass
class Running:
    """A started warroom: its URL, in-process state, and HTTP clients per token."""

    app: WarroomApp
    server: ThreadedServer
    admin_token: str

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def state(self) -> AppState:
        state: AppState = self.app.state.warroom
        return state

    def client(self, token: str | None = None, **kw: Any) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return http_client(base_url=self.url, headers=headers, timeout=30, **kw)

    def admin(self) -> httpx.Client:
        return self.client(self.admin_token)
