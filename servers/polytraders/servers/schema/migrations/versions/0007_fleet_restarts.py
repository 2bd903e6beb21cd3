"""How many restart commands HealthHeartbeat has run for each bot

Revision ID: 0007_fleet_restarts
Revises: 0006_pnl_trades
Create Date: 2026-12-06

Expand only: add tables, nullable or defaulted columns, indexes (CONCURRENTLY on PostgreSQL).
A drop or a rename waits for the next release, so the previous release keeps serving.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_fleet_restarts"
down_revision = "0006_pnl_trades"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("fleet_bot_states", schema=None) as batch_op:
        batch_op.add_column(sa.Column("restarts", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("fleet_bot_states", schema=None) as batch_op:
        batch_op.drop_column("restarts")
