"""The ingest writer in a process of its own, so storing alerts never waits on the web server's GIL.

In one process the group-commit writer thread needs the GIL after every database round trip, and
under an alert storm the event loop holds it most of the time: the writer's batches took twice as
long as its own work (PostgreSQL: ~10 ms for ~33 alerts, 2.9 ms of it CPU), and every sender waited
for them. Here the web server parses, authenticates the shape and triages (as before), then sends
each delivery over a socket pair to a child process that runs the same `GroupCommitter` and
`run_deliveries`; the child answers after its commit and the server relays the answer. Nothing
else changes: one transaction per batch, the same locks, the same replay of a failed batch.

The server takes no request before the child says it is ready (a child that cannot start stops
`serve` with its error). Frames are pickled lists (a 4-byte length first), written once per
event-loop pass (many deliveries a write). If the child dies, every delivery waiting on it is answered 503 with
Retry-After (nothing is answered as stored that was not committed; a sender's retry is a duplicate
if it was) and a new child starts. At shutdown the child finishes what it was sent, then exits; it
also exits when the server dies (end of file on its socket), and it ignores SIGINT and SIGTERM so
that a Ctrl-C or systemd stop lets the server finish in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import pickle
import select
import signal
import socket
import struct
import subprocess
import sys
from concurrent.futures import Future
from typing import Any

from warroom.api.errors import unavailable_body
from warroom.core import metrics
from warroom.core.hooks import Hooks
from warroom.core.settings import Settings
from warroom.ingest.fastpath.gate import Delivery, Reply, failure, make_writer
from warroom.policy.schema import Policy

log = logging.getLogger(__name__)
_HEAD = struct.Struct("!I")
RESTART_DELAY_S = 0.5
START_TIMEOUT_S = 60.0


def _frame(obj: Any) -> bytes:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    return _HEAD.pack(len(data)) + data


def _gone() -> Reply:
    """The child died with this delivery in hand: maybe stored, maybe not; the retry tells."""
    return Reply(503, unavailable_body(RuntimeError("the ingest writer process restarted")), ((b"retry-after", b"1"),))


class ProcessWriter:
    """What `ingest_gate.receive` submits to when `serve` runs the writer in a child process."""

    def __init__(self, settings: Settings, policy: Policy, hooks: Hooks) -> None:
        self.settings = settings
        self.policy = policy
        self.hooks = hooks  # module-level functions: pickled by reference
        self.restarts = 0
        self.child: subprocess.Popen[bytes] | None = None
        self._stream: asyncio.StreamWriter | None = None
        self._reader_task: asyncio.Task[None] | None = None
        self._pending: dict[int, asyncio.Future[Reply]] = {}
        self._outbox: list[tuple[int, Delivery]] = []
        self._ids = 0
        self._closing = False

    async def start(self) -> ProcessWriter:
        """Start the child and wait until it can store (`serve` takes no request before that)."""
        ours, theirs = socket.socketpair()
        with theirs:
            self.child = subprocess.Popen(
                [sys.executable, "-m", "warroom.ingest.fastpath.writer", str(theirs.fileno())],
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
            )
        reader, stream = await asyncio.open_connection(sock=ours)
        stream.write(_frame((self.settings, self.policy, self.hooks)))
        try:
            head = await asyncio.wait_for(reader.readexactly(_HEAD.size), START_TIMEOUT_S)
            kind, _ = pickle.loads(await reader.readexactly(_HEAD.unpack(head)[0]))  # noqa: S301
            if kind != "ready":
                raise ValueError(f"unexpected first frame {kind!r}")
        except (asyncio.IncompleteReadError, TimeoutError, OSError, ValueError) as exc:
            stream.close()
            self.child.kill()
            code = self.child.wait()
            raise RuntimeError(
                f"the ingest writer process did not start (exit code {code}; its error is in the log above)"
            ) from exc
        self._stream = stream
        self._reader_task = asyncio.get_running_loop().create_task(self._read(reader, stream))
        return self

    def submit_async(self, delivery: Delivery) -> asyncio.Future[Reply]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Reply] = loop.create_future()
        if self._stream is None:  # between a child's death and its replacement
            future.set_result(_gone())
            return future
        self._ids += 1
        self._pending[self._ids] = future
        if not self._outbox:
            loop.call_soon(self._flush)  # one write for every delivery of this loop pass
        self._outbox.append((self._ids, delivery))
        return future

    def _flush(self) -> None:
        outbox, self._outbox = self._outbox, []
        if self._stream is None:
            self._answer_all(ids=[i for i, _ in outbox])
            return
        self._stream.write(_frame(outbox))

    async def _read(self, reader: asyncio.StreamReader, stream: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readexactly(_HEAD.size)
                kind, payload = pickle.loads(await reader.readexactly(_HEAD.unpack(head)[0]))  # noqa: S301
                if kind == "replies":
                    for unit, reply in payload:
                        future = self._pending.pop(unit, None)
                        if future is not None and not future.done():
                            future.set_result(reply)
                else:  # "batch": what the child's writer committed, for /metrics
                    metrics.INGEST_BATCH_SIZE.observe(payload[0])
                    metrics.INGEST_BATCH_SECONDS.observe(payload[1])
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            pass
        finally:
            self._stream = None
            stream.close()
            self._answer_all(ids=list(self._pending))
            if not self._closing:
                log.error(
                    "the ingest writer process exited (%s); starting a new one",
                    self.child.poll() if self.child else "?",
                )
                asyncio.get_running_loop().call_later(RESTART_DELAY_S, self._restart)

    def _answer_all(self, *, ids: list[int]) -> None:
        for unit in ids:
            future = self._pending.pop(unit, None)
            if future is not None and not future.done():
                future.set_result(_gone())

    def _restart(self) -> None:
        if self._closing:
            return
        self.restarts += 1
        with contextlib.suppress(Exception):
            if self.child is not None:
                self.child.kill()
                self.child.wait(5)

        async def again() -> None:
            try:
                await self.start()
            except Exception:  # noqa: BLE001 - keep answering 503 and try again
                log.exception("could not start the ingest writer process")
                asyncio.get_running_loop().call_later(RESTART_DELAY_S, self._restart)

        asyncio.get_running_loop().create_task(again())

    async def stop(self, timeout: float = 30.0) -> None:
        """End of file to the child: it answers what it was sent, then exits."""
        self._closing = True
        if self._outbox:
            self._flush()
        if self._stream is not None:
            with contextlib.suppress(Exception):
                self._stream.write_eof()
        if self._reader_task is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._reader_task, timeout)
        if self.child is not None:
            try:
                await asyncio.get_running_loop().run_in_executor(None, self.child.wait, timeout)
            except subprocess.TimeoutExpired:
                self.child.kill()
                self.child.wait()


def _child(fd: int) -> None:
    """The child: read deliveries, run them through the group-commit writer, send the answers."""
    from warroom.core import runtime
    from warroom.core.clock import SystemClock
    from warroom.core.db import make_engine
    from warroom.core.logs import setup_logging
    from warroom.core.state import AppState
    from warroom.ingest.fastpath.walcheckpoint import for_engine

    # Ctrl-C reaches the whole process group and systemd signals the whole unit: the server
    # shuts down in order and its end of file stops this process after the last answer.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    sock = socket.socket(fileno=fd)
    frames = _Frames(sock)
    settings, policy, hooks = frames.first()
    setup_logging(settings)
    engine = make_engine(settings.database_url, pool_size=2, max_overflow=2)
    state = AppState(settings=settings, policy=policy, engine=engine, clock=SystemClock(), hooks=hooks)
    checkpointer = for_engine(engine)
    out = _Outbox(sock)
    with contextlib.suppress(Exception), engine.connect():
        pass  # a first connection now rather than in the first batch (an outage is the batch's)
    out.put(("ready", None))
    out.flush()

    writer = make_writer(state, checkpointer, lambda deliveries, seconds: out.put(("batch", (deliveries, seconds))))
    runtime.tune_gc()
    try:
        # One thread: what arrived while a batch ran is the next batch (no GIL to share, no
        # thread to wake); the server's end of file ends it after everything sent is answered.
        while received := frames.take(block=True):
            units = [unit for frame in received for unit in frame]
            for (unit, _), future in zip(units, writer.run_here([d for _, d in units]), strict=True):
                _answer(unit, out, future)
            out.flush()
    finally:
        if checkpointer is not None:
            checkpointer.stop()
        engine.dispose()


def _answer(unit: int, out: _Outbox, future: Future[Any]) -> None:
    exc = future.exception()
    out.put(("reply", (unit, future.result() if exc is None else failure(exc, "ingest batch"))))


class _Frames:
    """Frames from the server: `take` returns every complete one that has arrived (waiting for
    one if `block`), or [] at end of file; `first` returns one and keeps the rest for `take`
    (deliveries can arrive with the settings frame while the child is still starting)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = bytearray()
        self.ready: list[Any] = []
        self.eof = False

    def first(self) -> Any:
        while not self.ready and not self.eof:
            self._fill(block=True)
        if not self.ready:
            raise EOFError("the server closed the socket before sending the settings")
        return self.ready.pop(0)

    def take(self, *, block: bool) -> list[Any]:
        while block and not self.ready and not self.eof:
            self._fill(block=True)
        if not self.eof:
            self._fill(block=False)  # one more read: whatever came during the last batch
        out, self.ready = self.ready, []
        return out

    def _fill(self, *, block: bool) -> None:
        """Read what the socket holds (waiting for it if `block`)."""
        ready, _, _ = select.select([self.sock], [], [], None if block else 0)
        if not ready:
            return
        data = self.sock.recv(1 << 20)
        if not data:
            self.eof = True
        self.buffer += data
        while len(self.buffer) >= _HEAD.size:
            size = _HEAD.unpack_from(self.buffer)[0]
            if len(self.buffer) < _HEAD.size + size:
                break
            self.ready.append(pickle.loads(self.buffer[_HEAD.size : _HEAD.size + size]))  # noqa: S301
            del self.buffer[: _HEAD.size + size]


class _Outbox:
    """Answers and batch figures, sent in one write after each batch."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._items: list[tuple[str, Any]] = []

    def put(self, item: tuple[str, Any]) -> None:
        self._items.append(item)

    def flush(self) -> None:
        items, self._items = self._items, []
        replies = [payload for kind, payload in items if kind == "reply"]
        frames = [_frame(item) for item in items if item[0] != "reply"]
        if replies:
            frames.append(_frame(("replies", replies)))
        try:
            self.sock.sendall(b"".join(frames))
        except OSError:
            os._exit(0)  # the server is gone: nobody to answer


if __name__ == "__main__":
    _child(int(sys.argv[1]))
