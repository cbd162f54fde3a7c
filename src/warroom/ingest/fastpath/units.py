"""The writer's unit: what the group-commit writer (a thread here, or the writer process) runs
for a whole batch of deliveries in one transaction: one token look-up for all of them, the
store's first reads in the same round trip, then the set-based store (`store.ingest`), and each
delivery's answer, given only after that commit."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext

from sqlalchemy.orm import Session

from warroom.core import metrics, writeturns
from warroom.core.state import AppState
from warroom.ingest.fastpath import gate, statements, store
from warroom.ingest.fastpath.driversql import driver_pipeline
from warroom.ingest.fastpath.gate import Delivery, Reply
from warroom.ingest.fastpath.groupcommit import GroupCommitter
from warroom.ingest.fastpath.lookahead import Lookahead
from warroom.ingest.fastpath.walcheckpoint import WalCheckpointer
from warroom.users import service as users


def make_writer(
    state: AppState, checkpointer: WalCheckpointer | None, observe: Callable[[int, float], None]
) -> GroupCommitter:
    """The group-commit writer thread that stores deliveries (in this process or the writer's)."""

    turns = writeturns.for_engine(state.engine)

    def on_commit(deliveries: int, seconds: float) -> None:
        observe(deliveries, seconds)
        if checkpointer is not None and checkpointer.restart_wanted.is_set():
            # a WAL restart, between two transactions: it holds the write lock (up to RESTART_WAIT_S
            # when a reader holds it off), so it takes a batch's turn and people's writes go first;
            # only when one is wanted (the turn would make people's BEGINs wait for nothing)
            with turns.batch() if turns is not None else nullcontext():
                checkpointer.after_commit()

    return GroupCommitter(
        state.sessions,  # no prelock: run_deliveries sends the locks with its first reads
        run_batch=lambda session, deliveries: run_deliveries(session, state, deliveries),
        on_commit=on_commit,
        turns=turns,
    )


def observe(deliveries: int, seconds: float) -> None:
    metrics.INGEST_BATCH_SIZE.observe(deliveries)
    metrics.INGEST_BATCH_SECONDS.observe(seconds)


def _refusal(d: Delivery, token: tuple[str, str] | None) -> Reply | None:
    """The writer's check, in the batch's transaction: a token revoked since the gate saw it stores nothing."""
    if d.digest is None or token is None:
        return gate.unknown(d.digest)
    return gate.refused(d.source, token) or d.problem


def run_deliveries(session: Session, state: AppState, deliveries: list[Delivery]) -> list[Reply]:
    """The writer's unit for a whole batch: the services' locks, the tokens and the store's first
    reads together (one round trip on PostgreSQL), then one set-based store, one answer each."""
    now = state.now()
    services = sorted(frozenset().union(*(d.services for d in deliveries)))
    digests = sorted({d.digest for d in deliveries if d.digest})
    lookahead = Lookahead(
        session,
        policy=state.policy,
        now=now,
        items=[item for d in deliveries for item in d.items],
        triaged=[t for d in deliveries for t in d.triaged],
    )
    locks, lookups = statements.lock_steps(session, services), statements.token_steps(session, digests)
    results = driver_pipeline(session.connection(), locks + lookups + lookahead.steps)
    tokens = statements.token_kinds_from(digests, results[len(locks) : len(locks) + len(lookups)])
    lookahead.take(results[len(locks) + len(lookups) :])
    replies: list[Reply | None] = [_refusal(d, tokens.get(d.digest or "")) for d in deliveries]
    accepted = [d for d, r in zip(deliveries, replies, strict=True) if r is None]
    outcomes = iter(
        store.ingest(
            session,
            policy=state.policy,
            hooks=state.hooks,
            now=now,
            items=[item for d in accepted for item in d.items],
            triaged=[t for d in accepted for t in d.triaged],
            prelocked=frozenset(services),
            lookahead=lookahead,
        )
    )
    for n, d in enumerate(deliveries):
        if replies[n] is None:
            replies[n] = _accepted(d, [next(outcomes) for _ in d.items])
    users.touch_tokens(session, digests=tokens, now=now)  # last: it waits for no lock (api_tokens.last_used_at)
    return replies  # type: ignore[return-value]


def _accepted(d: Delivery, outcomes: list[store.Outcome]) -> Reply:
    counted = tuple(_outcome(o) for o in outcomes)
    if d.source == "events":
        return Reply(
            202, {"status": "success", "message": "Event processed", "dedup_key": d.items[0].dedup_key}, (), counted
        )
    return Reply(
        202,
        {
            "status": "accepted",
            "truncated_alerts": d.truncated,
            "alerts": [
                {
                    "id": o.alert_id,
                    "dedup_key": o.dedup_key,
                    "status": o.status,
                    "duplicate": o.duplicate,
                    "incident": f"INC-{o.incident_id}" if o.incident_id else None,
                }
                for o in outcomes
            ],
        },
        (),
        counted,
    )


def _outcome(o: store.Outcome) -> str:
    if o.duplicate:
        return "duplicate"
    if o.created:
        return "created"
    return "resolved" if o.status == "resolved" else "updated"
