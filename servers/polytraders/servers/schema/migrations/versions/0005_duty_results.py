"""Each singleton duty's latest result, so a standby answers reads of it as the leader would;
the process each cron dispatch was run by

Revision ID: 0005_duty_results
Revises: 0004_duty_fencing
Create Date: 2026-12-06

Expand only: add tables, nullable or defaulted columns, indexes (CONCURRENTLY on PostgreSQL).
A drop or a rename waits for the next release, so the previous release keeps serving.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_duty_results"
down_revision = "0004_duty_fencing"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "duty_results",
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("fencing_token", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("name"),
    )
    with op.batch_alter_table("cron_dispatches", schema=None) as batch_op:
        batch_op.add_column(sa.Column("holder", sa.String(length=256), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("cron_dispatches", schema=None) as batch_op:
        batch_op.drop_column("holder")
    op.drop_table("duty_results")
