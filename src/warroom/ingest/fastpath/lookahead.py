"""A batch's first reads, made before it runs so they travel with the batch's locks and tokens."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from warroom.ingest import episodes, grouping
from warroom.ingest.fastpath import statements
from warroom.ingest.parsers import Incoming
from warroom.ingest.service import Triaged
from warroom.policy.schema import Policy


class Lookahead:
    """The reads a batch starts with, for the caller to send with its own (locks, tokens) in one
    round trip on PostgreSQL: each key's open alert, each (service, tier)'s incident to join, and
    the recently recovered alerts of the firing events' episode keys (flapping)."""

    def __init__(
        self, session: Session, *, policy: Policy, now: datetime, items: list[Incoming], triaged: list[Triaged]
    ) -> None:
        st = statements.for_session(session)
        self.keys: dict[str, set[str]] = {}
        for item in items:
            self.keys.setdefault(item.source, set()).add(item.dedup_key)
        self.groups = sorted({(t.service, t.tier) for t in triaged})
        self.episodes = episodes.wanted(policy, items)
        self.steps = [
            st.open_alerts.step({"source": source, "keys": st.wire.keys(sorted(keys))})
            for source, keys in self.keys.items()
        ]
        for service, tier in self.groups:
            params = grouping.target_params(policy, now=now, service=service, tier=tier)
            params["open_since"], params["resolved_since"] = (
                st.wire.time(params["open_since"]),
                st.wire.time(params["resolved_since"]),
            )
            self.steps.append(st.target.step(params))
        since = st.wire.time(now - policy.triage.flap_window)
        self.steps += [
            st.recent_episodes.step({"source": source, "keys": st.wire.keys(sorted(keys)), "since": since})
            for source, keys in self.episodes.items()
        ]
        self.open: dict[tuple[str, str], Any] = {}
        self.quiet: set[tuple[str, int]] = set()  # (service, tier) with no incident to join
        self.targets: dict[tuple[str, int], int] = {}  # (service, tier) -> what TARGET found (locked later)
        self.recovered: episodes.Recovered = {}

    def take(self, results: list[list[Any]]) -> None:
        """The rows of `steps`, in order."""
        for source, rows in zip(self.keys, results[: len(self.keys)], strict=True):
            self.open.update(((source, row.dedup_key), row) for row in rows)
        targets = results[len(self.keys) : len(self.keys) + len(self.groups)]
        for group, rows in zip(self.groups, targets, strict=True):
            if rows:
                self.targets[group] = rows[0][0]
            else:
                self.quiet.add(group)
        for source, rows in zip(self.episodes, results[len(self.keys) + len(self.groups) :], strict=True):
            self.recovered.update(episodes.recovered_from_rows(source, rows))
