"""A big alert group (a storm in one webhook) must never make a person's write wait for all of it.

Invariants (issue 19): a group over `WARROOM_INGEST_CHUNK_ALERTS` goes to the writer a chunk per
transaction, one after the other, and is answered 202 only after its last chunk committed; a
failed chunk is the answer (it says how many alerts were stored before it), and the sender's
retry of the whole group answers those as duplicates (their events are already stored): nothing
is lost, nothing is stored twice. Between two chunks people's writes go first (SQLite:
`core.writeturns`; PostgreSQL: the incident's row lock is held for one chunk, not the group).
A body over OFF_LOOP_BYTES is parsed and triaged on a thread, and while one is in hand the cyclic
collector is paused, so the event loop and people's requests keep running.
"""

from __future__ import annotations

import gc
from dataclasses import replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from warroom.ingest.fastpath.gate import Delivery, Reply, Writer

# A body this big (a group of hundreds of alerts: parsing 10,000 takes ~0.3-1.3 s) is parsed and
# triaged on a thread, so the event loop keeps answering people meanwhile.
OFF_LOOP_BYTES = 262_144


async def in_chunks(writer: Writer, d: Delivery, size: int) -> Reply:
    """Store `d` a chunk of `size` alerts per transaction; one answer for the whole group."""
    replies: list[Reply] = []
    for start in range(0, len(d.items), size):
        items, triaged = d.items[start : start + size], d.triaged[start : start + size]
        part = replace(d, items=items, triaged=triaged, services=frozenset(t.service for t in triaged))
        reply = await writer.submit_async(part)
        if reply.status != 202:
            if start and isinstance(reply.body.get("error"), dict):
                reply.body["error"]["message"] += (
                    f" ({start:,} of the {len(d.items):,} alerts were stored before it; a retry of the "
                    "whole group answers them as duplicates)"
                )
            return reply
        replies.append(reply)
    return replace(
        replies[0],
        body={
            "status": "accepted",
            "truncated_alerts": d.truncated,
            "alerts": [a for r in replies for a in r.body["alerts"]],
        },
        outcomes=tuple(o for r in replies for o in r.outcomes),
    )


class CollectorPause:
    """No cyclic garbage collection while a big group is parsed and stored (event-loop thread only).
    Its ~100,000 containers made full collections of 120-400 ms on a loaded machine, each a pause of
    every thread of the process, people's requests included; its objects have no cycles (reference
    counting frees them), and the collector runs again once the last big group is answered."""

    def __init__(self) -> None:
        self.holders = 0
        self.reenable = False

    def __enter__(self) -> None:
        if self.holders == 0:
            self.reenable = gc.isenabled()
            gc.disable()
        self.holders += 1

    def __exit__(self, *exc: object) -> None:
        self.holders -= 1
        if self.holders == 0 and self.reenable:
            gc.enable()


PAUSE = CollectorPause()
