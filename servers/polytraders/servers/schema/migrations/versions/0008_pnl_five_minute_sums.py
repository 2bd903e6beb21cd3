"""The journal summed per group over each five minutes too, beside each day and hour: GetPnl reads
journal entries only for the part of five minutes at a window's edges

Revision ID: 0008_pnl_five_minute_sums
Revises: 0007_fleet_restarts
Create Date: 2026-12-07

Expand only: add tables, nullable or defaulted columns, indexes (CONCURRENTLY on PostgreSQL).
A drop or a rename waits for the next release, so the previous release keeps serving.
"""

from __future__ import annotations

from alembic import op

revision = "0008_pnl_five_minute_sums"
down_revision = "0007_fleet_restarts"
branch_labels = None
depends_on = None

FIVE_MINUTES_US = 300_000_000
SUMS = ("realised_micros", "fee_micros", "rebate_micros", "fills", "notional_micros", "adjustment_micros")


def upgrade() -> None:
    span = FIVE_MINUTES_US
    op.execute(
        f"INSERT INTO pnl_sums (span_us, start_us, bot_slug, condition_id, builder_code, {', '.join(SUMS)}) "
        f"SELECT {span}, at_us / {span} * {span}, bot_slug, condition_id, builder_code, sum(realised_micros), "
        "sum(fee_micros), sum(rebate_micros), "
        "sum(CASE kind WHEN 'fill' THEN 1 WHEN 'reversal' THEN -1 ELSE 0 END), "
        "sum(CASE WHEN kind IN ('fill', 'reversal') THEN notional_micros ELSE 0 END), "
        "sum(CASE WHEN kind IN ('adjustment', 'rebate_payout') THEN rebate_micros - fee_micros ELSE 0 END) "
        f"FROM pnl_entries GROUP BY at_us / {span} * {span}, bot_slug, condition_id, builder_code"
    )


def downgrade() -> None:
    op.execute(f"DELETE FROM pnl_sums WHERE span_us = {FIVE_MINUTES_US}")
