"""alert_order: indexes in the alert list's order (first_seen_at, id), alone, per incident, per status (and incident)

Revision ID: 0009_alert_order
Revises: 0008_cadence
Create Date: 2026-12-03 15:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0009_alert_order"
down_revision: str | Sequence[str] | None = "0008_cadence"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.create_index("ix_alerts_first_seen", ["first_seen_at", "id"], unique=False)
        batch_op.create_index("ix_alerts_incident_first_seen", ["incident_id", "first_seen_at", "id"], unique=False)
        batch_op.create_index("ix_alerts_status_first_seen", ["status", "first_seen_at", "id"], unique=False)
        batch_op.create_index(
            "ix_alerts_status_incident_first_seen", ["status", "incident_id", "first_seen_at", "id"], unique=False
        )
        batch_op.drop_index("ix_alerts_incident")  # a prefix of ix_alerts_incident_first_seen


def downgrade() -> None:
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.create_index("ix_alerts_incident", ["incident_id"], unique=False)
        batch_op.drop_index("ix_alerts_status_incident_first_seen")
        batch_op.drop_index("ix_alerts_status_first_seen")
        batch_op.drop_index("ix_alerts_incident_first_seen")
        batch_op.drop_index("ix_alerts_first_seen")
