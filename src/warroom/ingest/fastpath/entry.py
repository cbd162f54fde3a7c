"""The fast path's one entry point: what the app starts and stops, and what the webhooks call."""

from __future__ import annotations

from starlette.types import ASGIApp

from warroom.core.state import AppState
from warroom.ingest.fastpath import gate, units
from warroom.ingest.fastpath.gate import IngestGate, Reply, Writer
from warroom.ingest.fastpath.tokens import TokenCheck
from warroom.ingest.fastpath.walcheckpoint import WalCheckpointer, for_engine
from warroom.ingest.fastpath.writer import ProcessWriter
from warroom.ingest.service import TriageMemo


class FastPath:
    """Alerts in: the ASGI gate in front of the app, the triage memo, the group-commit writer
    (a thread here, or with `writer_process` a process of its own) and SQLite's WAL checkpointer."""

    def __init__(self, state: AppState, *, writer_process: bool = False) -> None:
        self.state = state
        self.writer_process = writer_process
        self.memo = TriageMemo(state.policy)
        self.tokens = TokenCheck(state)
        self.checkpointer: WalCheckpointer | None = None
        self.writer: Writer | None = None
        self.process: ProcessWriter | None = None

    async def start(self) -> None:
        """Checkpoint the WAL on a side thread (SQLite) and start the writer process if asked for
        (the server takes no request before it is ready)."""
        self.checkpointer = for_engine(self.state.engine)
        if self.writer_process:
            self.process = await ProcessWriter(self.state.settings, self.state.policy, self.state.hooks).start()
            self.writer = self.process

    async def stop(self) -> None:
        if self.process is not None:
            await self.process.stop()
        if self.checkpointer is not None:
            self.checkpointer.stop()

    def _writer(self) -> Writer:
        if self.writer is None:
            self.writer = units.make_writer(self.state, self.checkpointer, units.observe)
        return self.writer

    async def receive(self, source: str, body: bytes, *, authorization: str, query_string: bytes, client: str) -> Reply:
        return await gate.receive(
            self.state,
            self._writer(),
            self.memo,
            self.tokens,
            source,
            body,
            authorization=authorization,
            query_string=query_string,
            client=client,
        )

    def gate(self, app: ASGIApp) -> IngestGate:
        """Wrap the whole app: webhooks are answered here, everything else passes through."""
        return IngestGate(app, self, max_bytes=self.state.settings.max_ingest_body_bytes)
