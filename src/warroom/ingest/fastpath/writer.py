"""The ingest writer in a process of its own, so storing alerts never waits on the web server's GIL.

In one process the group-commit writer thread needs the GIL after every database round trip, and
under an alert storm the event loop holds it most of the time: the writer's batches took twice as
long as its own work (PostgreSQL: ~10 ms for ~33 alerts, 2.9 ms of it CPU), and every sender waited
for them. Here the web server parses, authenticates and triages (as before), then sends each
delivery to a child process that runs the same `GroupCommitter` and `run_deliveries`; the child
answers after its commit and the server relays the answer. Nothing else changes: one transaction
per batch, the same locks, the same replay of a failed batch.

They speak the typed messages of `messages` over a `multiprocessing.connection` pipe (a socket
pair whose child end the child inherits): `Start` then `Ready`, then `Deliver` (every delivery of
one event-loop pass) and `Answers` (after each commit), and `Stop`. The server takes no request
before `Ready` (a child that cannot start stops `serve` with its error). If the child dies, every
delivery waiting on it is answered 503 with Retry-After (nothing is answered as stored that was
not committed; a sender's retry is a duplicate if it was) and a new child starts. At `Stop` the
child answers what it was sent, then exits; it also exits when the server dies (end of file), and
it ignores SIGINT and SIGTERM so that a Ctrl-C or systemd stop lets the server finish in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import select
import signal
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from multiprocessing.connection import Connection, Pipe
from multiprocessing.reduction import ForkingPickler
from typing import Any

from warroom.api.errors import unavailable_body
from warroom.core import metrics
from warroom.core.hooks import Hooks
from warroom.core.settings import Settings
from warroom.ingest.fastpath.gate import Delivery, Reply, failure
from warroom.ingest.fastpath.messages import Answers, Batch, Deliver, Ready, Start, Stop, ToServer, ToWriter
from warroom.ingest.fastpath.units import make_writer
from warroom.policy.schema import Policy

log = logging.getLogger(__name__)
RESTART_DELAY_S = 0.5
START_TIMEOUT_S = 60.0
# Sent from the event loop only when it cannot block: a writable AF_UNIX socket has at least 3/4
# of its send buffer (~208 KB) free. Bigger messages, or any while some wait, go through a thread.
_DIRECT_MAX = 128 * 1024


def _gone() -> Reply:
    """The child died with this delivery in hand: maybe stored, maybe not; the retry tells."""
    return Reply(503, unavailable_body(RuntimeError("the ingest writer process restarted")), ((b"retry-after", b"1"),))


class ProcessWriter:
    """What `gate.receive` submits to when `serve` runs the writer in a child process."""

    def __init__(self, settings: Settings, policy: Policy, hooks: Hooks) -> None:
        self.settings = settings
        self.policy = policy
        self.hooks = hooks  # module-level functions: pickled by reference
        self.restarts = 0
        self.child: subprocess.Popen[bytes] | None = None
        self._conn: Connection | None = None  # set once the child is ready, None once it is gone
        self._pending: dict[int, asyncio.Future[Reply]] = {}
        self._outbox: list[tuple[int, Delivery]] = []
        self._ids = 0
        self._closing = False
        self._gone = asyncio.Event()
        self._sender = ThreadPoolExecutor(1, thread_name_prefix="ingest-writer-send")  # one: in order
        self._queued = 0  # messages handed to the sender thread and not yet sent

    async def start(self) -> ProcessWriter:
        """Start the child and wait until it can store (`serve` takes no request before that)."""
        ours, theirs = Pipe(duplex=True)
        with contextlib.closing(theirs):
            self.child = subprocess.Popen(
                [sys.executable, "-m", "warroom.ingest.fastpath.writer", str(theirs.fileno())],
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
            )
        try:
            ours.send(Start(self.settings, self.policy, self.hooks))
            first = await asyncio.wait_for(_receive_one(ours), START_TIMEOUT_S)
            if not isinstance(first, Ready):
                raise ValueError(f"unexpected first message {first!r}")
        except (EOFError, TimeoutError, OSError, ValueError) as exc:
            ours.close()
            self.child.kill()
            code = self.child.wait()
            raise RuntimeError(
                f"the ingest writer process did not start (exit code {code}; its error is in the log above)"
            ) from exc
        self._conn = ours
        self._gone = asyncio.Event()
        _watch(ours, self._readable, ours)
        return self

    def submit_async(self, delivery: Delivery) -> asyncio.Future[Reply]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Reply] = loop.create_future()
        if self._conn is None:  # between a child's death and its replacement
            future.set_result(_gone())
            return future
        self._ids += 1
        self._pending[self._ids] = future
        if not self._outbox:
            loop.call_soon(self._flush)  # one message for every delivery of this loop pass
        self._outbox.append((self._ids, delivery))
        return future

    def _flush(self) -> None:
        outbox, self._outbox = self._outbox, []
        if outbox:
            self._send(Deliver(tuple(outbox)), ids=[i for i, _ in outbox])

    def _send(self, message: ToWriter, *, ids: list[int]) -> None:
        """Pickled here; written here when that cannot block, else by the sender thread (in order)."""
        conn = self._conn
        if conn is None:
            self._answer_all(ids=ids)
            return
        data = ForkingPickler.dumps(message)
        if not self._queued and len(data) <= _DIRECT_MAX and _writable(conn):
            with contextlib.suppress(OSError):  # the reader sees the end of the child and answers
                conn.send_bytes(data)
            return
        self._queued += 1
        loop = asyncio.get_running_loop()
        self._sender.submit(self._send_queued, conn, data, loop)

    def _send_queued(self, conn: Connection, data: bytes | memoryview, loop: asyncio.AbstractEventLoop) -> None:
        with contextlib.suppress(OSError):
            conn.send_bytes(data)
        with contextlib.suppress(RuntimeError):  # the loop closed at shutdown
            loop.call_soon_threadsafe(self._sent)

    def _sent(self) -> None:
        self._queued -= 1

    def _readable(self, conn: Connection) -> None:
        """Every whole message waiting (the child writes each at once)."""
        try:
            while conn.poll():
                self._take(conn.recv())
        except (EOFError, OSError):
            self._lost(conn)

    def _take(self, message: ToServer) -> None:
        if isinstance(message, Answers):
            for batch in message.batches:
                metrics.INGEST_BATCH_SIZE.observe(batch.deliveries)
                metrics.INGEST_BATCH_SECONDS.observe(batch.seconds)
            for unit, reply in message.replies:
                future = self._pending.pop(unit, None)
                if future is not None and not future.done():
                    future.set_result(reply)

    def _lost(self, conn: Connection) -> None:
        """The child exited (or closed its end): answer what it held, start another unless closing."""
        loop = asyncio.get_running_loop()
        loop.remove_reader(conn.fileno())
        try:
            self._sender.submit(conn.close)  # after any send queued to it (its number is not reused under one)
        except RuntimeError:  # stopped: nothing is queued any more
            conn.close()
        if self._conn is conn:
            self._conn = None
        self._answer_all(ids=list(self._pending))
        self._gone.set()
        if not self._closing:
            log.error(
                "the ingest writer process exited (%s); starting a new one",
                self.child.poll() if self.child else "?",
            )
            loop.call_later(RESTART_DELAY_S, self._restart)

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
        """`Stop` to the child: it answers what it was sent, then exits."""
        self._closing = True
        self._flush()
        if self._conn is not None:
            self._send(Stop(), ids=[])
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._gone.wait(), timeout)
        self._sender.shutdown(wait=False)
        if self.child is not None:
            try:
                await asyncio.get_running_loop().run_in_executor(None, self.child.wait, timeout)
            except subprocess.TimeoutExpired:
                self.child.kill()
                self.child.wait()


def _watch(conn: Connection, callback: Callable[..., None], *args: Any) -> None:
    """Call back when the connection is readable. uvloop makes a watched descriptor non-blocking,
    and a `Connection` reads and writes whole messages only on a blocking one: set it back."""
    asyncio.get_running_loop().add_reader(conn.fileno(), callback, *args)
    os.set_blocking(conn.fileno(), True)


def _writable(conn: Connection) -> bool:
    return bool(select.select([], [conn], [], 0)[1])


async def _receive_one(conn: Connection) -> Any:
    """The next message, waiting in the event loop (not in a thread) until it arrives."""
    loop = asyncio.get_running_loop()
    arrived: asyncio.Future[None] = loop.create_future()

    def readable() -> None:
        if not arrived.done():
            arrived.set_result(None)

    _watch(conn, readable)
    try:
        await arrived
    finally:
        loop.remove_reader(conn.fileno())
    return conn.recv()


def _child(fd: int) -> None:
    """The child: receive deliveries, run them through the group-commit writer, send the answers."""
    from warroom.core import runtime
    from warroom.core.clock import SystemClock
    from warroom.core.db import make_engine
    from warroom.core.logs import setup_logging
    from warroom.core.state import AppState
    from warroom.ingest.fastpath.walcheckpoint import for_engine

    # Ctrl-C reaches the whole process group and systemd signals the whole unit: the server
    # shuts down in order and its `Stop` (or end of file) ends this process after the last answer.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    conn = Connection(fd)
    start = conn.recv()
    if not isinstance(start, Start):
        raise TypeError(f"expected Start first, got {start!r}")
    setup_logging(start.settings)
    engine = make_engine(start.settings.database_url, pool_size=2, max_overflow=2)
    state = AppState(
        settings=start.settings, policy=start.policy, engine=engine, clock=SystemClock(), hooks=start.hooks
    )
    checkpointer = for_engine(engine)
    with contextlib.suppress(Exception), engine.connect():
        pass  # a first connection now rather than in the first batch (an outage is the batch's)
    _say(conn, Ready())
    batches: list[Batch] = []
    writer = make_writer(state, checkpointer, lambda deliveries, seconds: batches.append(Batch(deliveries, seconds)))
    runtime.tune_gc()
    try:
        # One thread: what arrived while a batch ran is the next batch (no GIL to share, no
        # thread to wake); `Stop` or the server's end of file ends it after everything is answered.
        while received := _take_all(conn):
            units = [unit for message in received if isinstance(message, Deliver) for unit in message.units]
            if units:
                replies = zip(units, writer.run_here([d for _, d in units]), strict=True)
                _say(conn, Answers(tuple((unit, _reply(future)) for (unit, _), future in replies), tuple(batches)))
                batches.clear()
            if any(isinstance(message, Stop) for message in received):
                break
    finally:
        if checkpointer is not None:
            checkpointer.stop()
        engine.dispose()


def _take_all(conn: Connection) -> list[ToWriter]:
    """Every message that has arrived, waiting for the first; [] once the server is gone."""
    try:
        received = [conn.recv()]
        while conn.poll():
            received.append(conn.recv())
    except (EOFError, OSError):
        return []
    return received


def _reply(future: Future[Any]) -> Reply:
    exc = future.exception()
    return future.result() if exc is None else failure(exc, "ingest batch")  # type: ignore[no-any-return]


def _say(conn: Connection, message: ToServer) -> None:
    try:
        conn.send(message)
    except OSError:
        sys.exit(0)  # the server is gone: nobody to answer


if __name__ == "__main__":
    _child(int(sys.argv[1]))
