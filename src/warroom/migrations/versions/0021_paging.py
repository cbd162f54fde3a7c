"""paging: the levels of an incident's escalation that were paged, and their acknowledgement

Revision ID: 0021_paging
Revises: 0016_oncall
Create Date: 2026-12-06 08:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0021_paging"
down_revision: str | Sequence[str] | None = "0016_oncall"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "incident_pages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("escalation_policy", sa.String(length=64), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("users", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False),
        sa.Column("schedule", sa.String(length=64), nullable=True),
        sa.Column("paged_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ack_due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_by", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["incident_id"], ["incidents.id"], name=op.f("fk_incident_pages_incident_id_incidents"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident_pages")),
        sa.UniqueConstraint("incident_id", "level", name=op.f("uq_incident_pages_incident_id_level")),
    )
    with op.batch_alter_table("incident_pages", schema=None) as batch_op:
        batch_op.create_index("ix_incident_pages_paged_at", ["paged_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("incident_pages", schema=None) as batch_op:
        batch_op.drop_index("ix_incident_pages_paged_at")
    op.drop_table("incident_pages")
