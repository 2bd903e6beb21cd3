"""Each fill's trade through its life (MATCHED to CONFIRMED or FAILED), so a later status adjusts
or reverses what the first booked; the fills the ledger refused from the bus; the journal summed
per group over each day and hour, for GetPnl

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

SUMS = ("realised_micros", "fee_micros", "rebate_micros", "fills", "notional_micros", "adjustment_micros")


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
        "pnl_sums",
        sa.Column("span_us", sa.BigInteger(), nullable=False),
        sa.Column("start_us", sa.BigInteger(), nullable=False),
        sa.Column("bot_slug", sa.String(length=128), nullable=False),
        sa.Column("condition_id", sa.String(length=80), nullable=False),
        sa.Column("builder_code", sa.String(length=66), nullable=False),
        *(sa.Column(name, sa.BigInteger(), nullable=False) for name in SUMS),
        sa.PrimaryKeyConstraint("span_us", "start_us", "bot_slug", "condition_id", "builder_code"),
    )
    for span in (86_400_000_000, 3_600_000_000):  # each day, each hour
        op.execute(
            f"INSERT INTO pnl_sums (span_us, start_us, bot_slug, condition_id, builder_code, {', '.join(SUMS)}) "
            f"SELECT {span}, at_us / {span} * {span}, bot_slug, condition_id, builder_code, sum(realised_micros), "
            "sum(fee_micros), sum(rebate_micros), "
            "sum(CASE kind WHEN 'fill' THEN 1 WHEN 'reversal' THEN -1 ELSE 0 END), "
            "sum(CASE WHEN kind IN ('fill', 'reversal') THEN notional_micros ELSE 0 END), "
            "sum(CASE WHEN kind IN ('adjustment', 'rebate_payout') THEN rebate_micros - fee_micros ELSE 0 END) "
            f"FROM pnl_entries GROUP BY at_us / {span} * {span}, bot_slug, condition_id, builder_code"
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
    op.drop_table("pnl_sums")
    op.drop_table("pnl_trades")
