"""Each fill's trade through its life (MATCHED to CONFIRMED or FAILED), so a later status adjusts
or reverses what the first booked; the fills the ledger refused from the bus

Revision ID: 0006_pnl_trades
Revises: 0005_duty_results
Create Date: 2026-12-06

Expand only: add tables, nullable or defaulted columns, indexes (CONCURRENTLY on PostgreSQL).
A drop or a rename waits for the next release, so the previous release keeps serving.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_pnl_trades"
down_revision = "0005_duty_results"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pnl_trades",
        sa.Column("trade_key", sa.String(length=64), nullable=False),
        sa.Column("bot_slug", sa.String(length=128), nullable=False),
        sa.Column("token_id", sa.String(length=80), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("fee_micros", sa.BigInteger(), nullable=False),
        sa.Column("rebate_micros", sa.BigInteger(), nullable=False),
        sa.Column("booked", sa.Boolean(), nullable=False),
        sa.Column("booked_order", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("trade_key"),
    )
    # The fills booked before: each its own trade, in the order of their match time.
    op.execute(
        "INSERT INTO pnl_trades (trade_key, bot_slug, token_id, status, fee_micros, rebate_micros, booked, booked_order) "
        "SELECT entry_id, bot_slug, token_id, 'MATCHED', fee_micros, rebate_micros, true, "
        "ROW_NUMBER() OVER (ORDER BY at_us, entry_id) FROM pnl_entries WHERE kind = 'fill'"
    )


    op.create_table(
        "pnl_rejected_fills",
        sa.Column("report_id", sa.String(length=36), nullable=False),
        sa.Column("bot_slug", sa.String(length=128), nullable=False),
        sa.Column("trade_id", sa.String(length=128), nullable=False),
        sa.Column("field_path", sa.String(length=256), nullable=False),
        sa.Column("reason", sa.String(length=1024), nullable=False),
        sa.Column("rejected_at_us", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("report_id"),
    )
    with op.batch_alter_table("pnl_rejected_fills", schema=None) as batch_op:
        batch_op.create_index("pnl_rejected_fills_by_time", ["rejected_at_us"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("pnl_rejected_fills", schema=None) as batch_op:
        batch_op.drop_index("pnl_rejected_fills_by_time")
    op.drop_table("pnl_rejected_fills")
    op.drop_table("pnl_trades")
