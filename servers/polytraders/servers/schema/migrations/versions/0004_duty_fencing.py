"""Fencing tokens: each duty's latest hold, the hold each cron dispatch was written under, and
the heartbeat counts a new sweep leader goes on from

Revision ID: 0004_duty_fencing
Revises: 0003_bus_relay_cursor
Create Date: 2026-12-06

Expand only: add tables, nullable or defaulted columns, indexes (CONCURRENTLY on PostgreSQL).
A drop or a rename waits for the next release, so the previous release keeps serving.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_duty_fencing"
down_revision = "0003_bus_relay_cursor"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "duty_leases",
        sa.Column("duty", sa.String(length=128), nullable=False),
        sa.Column("token", sa.BigInteger(), nullable=False),
        sa.Column("holder", sa.String(length=256), nullable=False),
        sa.PrimaryKeyConstraint("duty"),
    )
    with op.batch_alter_table("cron_dispatches", schema=None) as batch_op:
        batch_op.add_column(sa.Column("fencing_token", sa.BigInteger(), nullable=True))
    op.create_table(
        "fleet_bot_states",
        sa.Column("bot_slug", sa.String(length=128), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("misses", sa.Integer(), nullable=False),
        sa.Column("alerting", sa.Boolean(), nullable=False),
        sa.Column("last_serving_us", sa.BigInteger(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("fencing_token", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("bot_slug"),
    )


def downgrade() -> None:
    op.drop_table("fleet_bot_states")
    with op.batch_alter_table("cron_dispatches", schema=None) as batch_op:
        batch_op.drop_column("fencing_token")
    op.drop_table("duty_leases")
