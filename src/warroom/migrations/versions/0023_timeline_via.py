"""timeline via: each timeline entry says which entry point it was made through (api, web, cli, slack)

Revision ID: 0023_timeline_via
Revises: 0022_slack_pauses
Create Date: 2026-12-06 11:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023_timeline_via"
down_revision: str | Sequence[str] | None = "0022_slack_pauses"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("timeline_entries") as batch:
        batch.add_column(sa.Column("via", sa.String(length=8), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("timeline_entries") as batch:
        batch.drop_column("via")
