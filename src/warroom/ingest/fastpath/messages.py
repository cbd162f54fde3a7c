"""What the web server and its ingest writer process say to each other: one frozen type per kind of
message, sent whole over a `multiprocessing.connection.Connection` (it frames and pickles them)."""

from __future__ import annotations

from dataclasses import dataclass

from warroom.core.hooks import Hooks
from warroom.core.settings import Settings
from warroom.ingest.fastpath.gate import Delivery, Reply
from warroom.policy.schema import Policy


@dataclass(frozen=True, slots=True)
class Start:
    """Server -> writer, first: what the writer needs to store (hooks are module-level functions,
    pickled by reference)."""

    settings: Settings
    policy: Policy
    hooks: Hooks


@dataclass(frozen=True, slots=True)
class Ready:
    """Writer -> server, once: connected, the server may take requests."""


@dataclass(frozen=True, slots=True)
class Deliver:
    """Server -> writer: the deliveries of one event-loop pass, each with the id its answer carries."""

    units: tuple[tuple[int, Delivery], ...]


@dataclass(frozen=True, slots=True)
class Batch:
    """One committed group-commit batch, for the server's /metrics."""

    deliveries: int
    seconds: float


@dataclass(frozen=True, slots=True)
class Answers:
    """Writer -> server, after each commit: every delivery's answer by id, and the batches run."""

    replies: tuple[tuple[int, Reply], ...]
    batches: tuple[Batch, ...] = ()


@dataclass(frozen=True, slots=True)
class Stop:
    """Server -> writer, last: answer everything sent before this, then exit."""


ToWriter = Start | Deliver | Stop
ToServer = Ready | Answers
