"""ingest_keys: one unique index serves dedup and history; event keys ordered by alert; drop an unused index

Each new alert wrote three randomly placed index pages (the open-alert key, the dedup-key history
index and the event key, a bare hash): most of a batch's WAL. Now (dedup_key, source, open_key)
is unique (open_key is NULL once resolved) and its (dedup_key, source) prefix serves history
look-ups; an event key starts with its alert id in fixed-width hex, so a new alert's events go to
the end of the index; nothing reads ix_alerts_last_seen, which every re-delivery rewrote.

Revision ID: 0010_ingest_keys
Revises: 0009_alert_order
Create Date: 2026-12-04 16:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0010_ingest_keys"
down_revision: str | Sequence[str] | None = "0009_alert_order"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Old key: sha256(alert id, content) in hex. New key: the alert id as 12 hex digits, then the
    # first 52 digits of that same hash, so stored events still match their re-deliveries.
    if op.get_bind().dialect.name == "postgresql":
        op.execute("UPDATE alert_events SET event_key = lpad(to_hex(alert_id), 12, '0') || left(event_key, 52)")
    else:
        op.execute("UPDATE alert_events SET event_key = printf('%012x', alert_id) || substr(event_key, 1, 52)")
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_constraint("uq_alerts_source_open_key", type_="unique")
        batch_op.drop_index("ix_alerts_source_dedup")
        batch_op.drop_index("ix_alerts_last_seen")
        # dedup_key first: a batch's `dedup_key = ANY(...)` look-up uses the index on any planner
        # statistics (with stale ones PostgreSQL scanned every alert of the source instead).
        batch_op.create_unique_constraint("uq_alerts_dedup_key_source_open_key", ["dedup_key", "source", "open_key"])


def downgrade() -> None:
    # Event keys keep the new form: still unique, and the old hash cannot be recovered from them.
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_constraint("uq_alerts_dedup_key_source_open_key", type_="unique")
        batch_op.create_index("ix_alerts_last_seen", ["last_seen_at"], unique=False)
        batch_op.create_index("ix_alerts_source_dedup", ["source", "dedup_key"], unique=False)
        batch_op.create_unique_constraint("uq_alerts_source_open_key", ["source", "open_key"])
