"""cadence: partial index for the outbox claim (oldest pending row per incident and channel)

Revision ID: 0008_cadence
Revises: 0007_audit
Create Date: 2026-11-28 14:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_cadence"
down_revision: str | Sequence[str] | None = "0007_audit"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pending = sa.text("state = 'pending'")
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.create_index(
            "ix_notifications_pending_order",
            ["incident_id", "channel", "id"],
            unique=False,
            postgresql_where=pending,
            sqlite_where=pending,
        )


def downgrade() -> None:
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_index("ix_notifications_pending_order")
