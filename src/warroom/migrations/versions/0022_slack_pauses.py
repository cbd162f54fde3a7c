"""slack pauses: a Slack method that answered 429 is not called by any worker before its Retry-After

Revision ID: 0022_slack_pauses
Revises: 0017_grouping
Create Date: 2026-12-06 09:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022_slack_pauses"
down_revision: str | Sequence[str] | None = "0017_grouping"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "slack_method_pauses",
        sa.Column("method", sa.String(length=64), nullable=False),
        sa.Column("until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("hits", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("method", name=op.f("pk_slack_method_pauses")),
    )


def downgrade() -> None:
    op.drop_table("slack_method_pauses")
