"""grouping: alerts' episode start and key (the 15-minute clock, flapping); incidents' tier (environment in grouping)

Revision ID: 0017_grouping
Revises: 0016_oncall
Create Date: 2026-12-06 08:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017_grouping"
down_revision: str | Sequence[str] | None = "0019_slack"  # re-chained after paging, datadog and slack on main
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("started_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("episode_key", sa.String(length=255), nullable=True))
        batch_op.create_index("ix_alerts_episode", ["episode_key", "source"], unique=False)
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("tier", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.drop_column("tier")
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_index("ix_alerts_episode")
        batch_op.drop_column("episode_key")
        batch_op.drop_column("started_at")
