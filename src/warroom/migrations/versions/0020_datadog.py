"""datadog: the incident's Datadog ids, the mirror's row per incident, the user cache, the pause, inbound deliveries

Revision ID: 0020_datadog
Revises: 0016_oncall
Create Date: 2026-12-06 08:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0020_datadog"
down_revision: str | Sequence[str] | None = "0021_paging"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("datadog_id", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("datadog_public_id", sa.Integer(), nullable=True))
        batch_op.create_unique_constraint(batch_op.f("uq_incidents_datadog_id"), ["datadog_id"])
    op.create_table(
        "datadog_mirror",
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("origin", sa.String(length=16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("synced_version", sa.Integer(), nullable=False),
        sa.Column("noticed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("claimed_by", sa.String(length=80), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("failing_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("create_attempts", sa.Integer(), nullable=False),
        sa.Column("marker", sa.String(length=80), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("sent", JSON, nullable=False),
        sa.Column("todos", JSON, nullable=False),
        sa.Column("postmortem_attached", sa.Boolean(), nullable=False),
        sa.Column("synced_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["incident_id"], ["incidents.id"], name=op.f("fk_datadog_mirror_incident_id_incidents"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("incident_id", name=op.f("pk_datadog_mirror")),
    )
    with op.batch_alter_table("datadog_mirror", schema=None) as batch_op:
        batch_op.create_index(
            "ix_datadog_mirror_dirty",
            ["incident_id"],
            unique=False,
            postgresql_where=sa.text("version > synced_version"),
            sqlite_where=sa.text("version > synced_version"),
        )
    op.create_table(
        "datadog_users",
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=True),
        sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("email", name=op.f("pk_datadog_users")),
    )
    op.create_table(
        "datadog_pause",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("keys", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("retry_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_datadog_pause")),
    )
    op.create_table(
        "datadog_deliveries",
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("datadog_id", sa.String(length=64), nullable=False),
        sa.Column("outcome", sa.String(length=32), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("detail", JSON, nullable=False),
        sa.PrimaryKeyConstraint("digest", name=op.f("pk_datadog_deliveries")),
    )


def downgrade() -> None:
    op.drop_table("datadog_deliveries")
    op.drop_table("datadog_pause")
    op.drop_table("datadog_users")
    with op.batch_alter_table("datadog_mirror", schema=None) as batch_op:
        batch_op.drop_index("ix_datadog_mirror_dirty")
    op.drop_table("datadog_mirror")
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_incidents_datadog_id"), type_="unique")
        batch_op.drop_column("datadog_public_id")
        batch_op.drop_column("datadog_id")
