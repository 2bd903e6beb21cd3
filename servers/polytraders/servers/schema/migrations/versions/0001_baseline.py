"""Baseline: the schema of the last release made without Alembic (13f859b)

Revision ID: 0001_baseline
Revises: (none)
Create Date: 2026-12-06

Expand only: add tables, nullable or defaulted columns, indexes (CONCURRENTLY on PostgreSQL).
A drop or a rename waits for the next release, so the previous release keeps serving.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0001_baseline'
down_revision = None
branch_labels = None
depends_on = None


# Defence in depth: the database itself refuses to update or delete a compliance ledger entry.
# (Someone who can drop the trigger can still tamper, which is what the hash chain is for.)
LEDGER_APPEND_ONLY = {
    "sqlite": [
        "CREATE TRIGGER ledger_entries_no_update BEFORE UPDATE ON ledger_entries "
        "BEGIN SELECT RAISE(ABORT, 'ledger_entries is append-only'); END",
        "CREATE TRIGGER ledger_entries_no_delete BEFORE DELETE ON ledger_entries "
        "BEGIN SELECT RAISE(ABORT, 'ledger_entries is append-only'); END",
    ],
    "postgresql": [
        "CREATE OR REPLACE FUNCTION ledger_entries_append_only() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'ledger_entries is append-only'; END $$",
        "CREATE TRIGGER ledger_entries_append_only BEFORE UPDATE OR DELETE ON ledger_entries "
        "FOR EACH ROW EXECUTE FUNCTION ledger_entries_append_only()",
    ],
}


def upgrade() -> None:
    op.create_table('attribution_exchange_trades',
    sa.Column('reconciliation_id', sa.String(length=36), nullable=False),
    sa.Column('record_key', sa.String(length=160), nullable=False),
    sa.Column('condition_id', sa.String(length=80), nullable=False),
    sa.Column('price', sa.String(length=32), nullable=False),
    sa.Column('size_micros', sa.BigInteger(), nullable=False),
    sa.Column('notional_micros', sa.BigInteger(), nullable=False),
    sa.Column('builder_fee_micros', sa.BigInteger(), nullable=False),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('matched_at_us', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('reconciliation_id', 'record_key')
    )
    op.create_table('attribution_fills',
    sa.Column('record_key', sa.String(length=160), nullable=False),
    sa.Column('report_id', sa.String(length=36), nullable=False),
    sa.Column('archive_seq', sa.BigInteger(), nullable=False),
    sa.Column('bot_slug', sa.String(length=128), nullable=False),
    sa.Column('trace_id', sa.String(length=128), nullable=False),
    sa.Column('trade_id', sa.String(length=128), nullable=False),
    sa.Column('liquidity', sa.String(length=8), nullable=False),
    sa.Column('order_id', sa.String(length=128), nullable=False),
    sa.Column('condition_id', sa.String(length=80), nullable=False),
    sa.Column('token_id', sa.String(length=80), nullable=False),
    sa.Column('side', sa.String(length=4), nullable=False),
    sa.Column('price', sa.String(length=32), nullable=False),
    sa.Column('size_micros', sa.BigInteger(), nullable=False),
    sa.Column('notional_micros', sa.BigInteger(), nullable=False),
    sa.Column('fee_micros', sa.BigInteger(), nullable=False),
    sa.Column('rebate_micros', sa.BigInteger(), nullable=False),
    sa.Column('builder_code', sa.String(length=66), nullable=False),
    sa.Column('matched_at_us', sa.BigInteger(), nullable=False),
    sa.Column('trade_status', sa.String(length=32), nullable=False),
    sa.PrimaryKeyConstraint('record_key')
    )
    with op.batch_alter_table('attribution_fills', schema=None) as batch_op:
        batch_op.create_index('attribution_fills_by_bot_time', ['bot_slug', 'matched_at_us'], unique=False)
        batch_op.create_index('attribution_fills_by_time', ['matched_at_us'], unique=False)

    op.create_table('attribution_quarantine_cases',
    sa.Column('case_id', sa.String(length=32), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('reconciliation_id', sa.String(length=36), nullable=False),
    sa.Column('condition_id', sa.String(length=80), nullable=False),
    sa.Column('explanation', sa.Text(), nullable=False),
    sa.Column('opened_us', sa.BigInteger(), nullable=False),
    sa.Column('released_us', sa.BigInteger(), nullable=True),
    sa.Column('released_by', sa.String(length=128), nullable=False),
    sa.Column('release_reason', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('case_id')
    )
    with op.batch_alter_table('attribution_quarantine_cases', schema=None) as batch_op:
        batch_op.create_index('attribution_quarantine_by_opened', ['opened_us'], unique=False)

    op.create_table('attribution_quarantine_records',
    sa.Column('case_id', sa.String(length=32), nullable=False),
    sa.Column('record_key', sa.String(length=160), nullable=False),
    sa.PrimaryKeyConstraint('case_id', 'record_key')
    )
    with op.batch_alter_table('attribution_quarantine_records', schema=None) as batch_op:
        batch_op.create_index('attribution_quarantine_records_by_key', ['record_key'], unique=False)

    op.create_table('attribution_reconciliations',
    sa.Column('reconciliation_id', sa.String(length=36), nullable=False),
    sa.Column('window_start_us', sa.BigInteger(), nullable=False),
    sa.Column('window_end_us', sa.BigInteger(), nullable=False),
    sa.Column('finished_us', sa.BigInteger(), nullable=False),
    sa.Column('status', sa.Integer(), nullable=False),
    sa.Column('body', sa.LargeBinary(), nullable=False),
    sa.PrimaryKeyConstraint('reconciliation_id')
    )
    with op.batch_alter_table('attribution_reconciliations', schema=None) as batch_op:
        batch_op.create_index('attribution_reconciliations_by_window', ['window_start_us', 'window_end_us', 'finished_us'], unique=False)

    op.create_table('attribution_revenue_reports',
    sa.Column('report_id', sa.String(length=36), nullable=False),
    sa.Column('day', sa.Integer(), nullable=False),
    sa.Column('produced_us', sa.BigInteger(), nullable=False),
    sa.Column('body', sa.LargeBinary(), nullable=False),
    sa.PrimaryKeyConstraint('report_id')
    )
    with op.batch_alter_table('attribution_revenue_reports', schema=None) as batch_op:
        batch_op.create_index('attribution_revenue_by_day', ['day', 'produced_us'], unique=False)

    op.create_table('attribution_tags',
    sa.Column('trace_id', sa.String(length=128), nullable=False),
    sa.Column('token_id', sa.String(length=80), nullable=False),
    sa.Column('builder_code', sa.String(length=66), nullable=False),
    sa.Column('archive_seq', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('trace_id', 'token_id')
    )
    op.create_table('backtests',
    sa.Column('backtest_id', sa.String(length=36), nullable=False),
    sa.Column('ran_us', sa.BigInteger(), nullable=False),
    sa.Column('body', sa.LargeBinary(), nullable=False),
    sa.PrimaryKeyConstraint('backtest_id')
    )
    op.create_table('config_changes',
    sa.Column('change_id', sa.String(length=36), nullable=False),
    sa.Column('bot_slug', sa.String(length=128), nullable=False),
    sa.Column('changed_at_us', sa.BigInteger(), nullable=False),
    sa.Column('archive_seq', sa.BigInteger(), nullable=False),
    sa.Column('actor', sa.String(length=128), nullable=False),
    sa.Column('source', sa.String(length=32), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('keys_json', sa.Text(), nullable=False),
    sa.Column('before_json', sa.Text(), nullable=False),
    sa.Column('after_json', sa.Text(), nullable=False),
    sa.Column('snapshot_json', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('change_id')
    )
    with op.batch_alter_table('config_changes', schema=None) as batch_op:
        batch_op.create_index('config_changes_by_bot_time', ['bot_slug', 'changed_at_us'], unique=False)

    op.create_table('cron_dispatches',
    sa.Column('dispatch_id', sa.String(length=36), nullable=False),
    sa.Column('task', sa.String(length=128), nullable=False),
    sa.Column('scheduled_us', sa.BigInteger(), nullable=False),
    sa.Column('started_us', sa.BigInteger(), nullable=True),
    sa.Column('finished_us', sa.BigInteger(), nullable=True),
    sa.Column('outcome', sa.Integer(), nullable=False),
    sa.Column('detail', sa.Text(), nullable=False),
    sa.Column('triggered_by', sa.String(length=128), nullable=False),
    sa.PrimaryKeyConstraint('dispatch_id')
    )
    with op.batch_alter_table('cron_dispatches', schema=None) as batch_op:
        batch_op.create_index('cron_dispatches_by_task', ['task', 'scheduled_us'], unique=False)
        batch_op.create_index('cron_dispatches_by_time', ['scheduled_us'], unique=False)

    op.create_table('cron_state',
    sa.Column('task', sa.String(length=128), nullable=False),
    sa.Column('last_scheduled_us', sa.BigInteger(), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('task')
    )
    op.create_table('experiment_samples',
    sa.Column('experiment_id', sa.String(length=128), nullable=False),
    sa.Column('condition_id', sa.String(length=130), nullable=False),
    sa.Column('window_start_us', sa.BigInteger(), nullable=False),
    sa.Column('position', sa.BigInteger(), nullable=False),
    sa.Column('window_end_us', sa.BigInteger(), nullable=False),
    sa.Column('control_value', sa.String(length=64), nullable=False),
    sa.Column('variant_value', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('experiment_id', 'condition_id', 'window_start_us')
    )
    op.create_table('experiments',
    sa.Column('experiment_id', sa.String(length=128), nullable=False),
    sa.Column('state', sa.LargeBinary(), nullable=False),
    sa.PrimaryKeyConstraint('experiment_id')
    )
    op.create_table('explainer_explanations',
    sa.Column('report_id', sa.String(length=36), nullable=False),
    sa.Column('fill_report_id', sa.String(length=36), nullable=False),
    sa.Column('trace_id', sa.String(length=128), nullable=False),
    sa.Column('bot_slug', sa.String(length=128), nullable=False),
    sa.Column('corrects_report_id', sa.String(length=36), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('missing', sa.String(length=128), nullable=False),
    sa.Column('complete', sa.Boolean(), nullable=False),
    sa.Column('matched_us', sa.BigInteger(), nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('report_id')
    )
    with op.batch_alter_table('explainer_explanations', schema=None) as batch_op:
        batch_op.create_index('explainer_by_fill', ['fill_report_id', 'seq'], unique=False)
        batch_op.create_index('explainer_by_trace', ['trace_id'], unique=False)

    op.create_table('explainer_trace_reports',
    sa.Column('report_id', sa.String(length=36), nullable=False),
    sa.Column('trace_id', sa.String(length=128), nullable=False),
    sa.Column('kind', sa.BigInteger(), nullable=False),
    sa.Column('payload', sa.LargeBinary(), nullable=False),
    sa.PrimaryKeyConstraint('report_id')
    )
    with op.batch_alter_table('explainer_trace_reports', schema=None) as batch_op:
        batch_op.create_index('explainer_trace_reports_by_trace', ['trace_id'], unique=False)

    op.create_table('incidents',
    sa.Column('incident_id', sa.String(length=36), nullable=False),
    sa.Column('state', sa.Integer(), nullable=False),
    sa.Column('declared_us', sa.BigInteger(), nullable=False),
    sa.Column('rca_due_us', sa.BigInteger(), nullable=True),
    sa.Column('body', sa.LargeBinary(), nullable=False),
    sa.PrimaryKeyConstraint('incident_id')
    )
    with op.batch_alter_table('incidents', schema=None) as batch_op:
        batch_op.create_index('incidents_by_declared', ['declared_us'], unique=False)

    op.create_table('ledger_checkpoints',
    sa.Column('stream', sa.String(length=128), nullable=False),
    sa.Column('last_seq', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('first_seq', sa.BigInteger(), nullable=False),
    sa.Column('merkle_root', sa.LargeBinary(), nullable=False),
    sa.Column('chain_hash', sa.LargeBinary(), nullable=False),
    sa.Column('recorded_at_us', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('stream', 'last_seq')
    )
    op.create_table('ledger_cursor',
    sa.Column('follower', sa.String(length=32), nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('follower')
    )
    op.create_table('ledger_entries',
    sa.Column('stream', sa.String(length=128), nullable=False),
    sa.Column('seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=False, nullable=False),
    sa.Column('entry_id', sa.String(length=36), nullable=False),
    sa.Column('recorded_at_us', sa.BigInteger(), nullable=False),
    sa.Column('corrects', sa.String(length=36), nullable=False),
    sa.Column('payload', sa.LargeBinary(), nullable=False),
    sa.Column('prev_hash', sa.LargeBinary(), nullable=False),
    sa.Column('hash', sa.LargeBinary(), nullable=False),
    sa.PrimaryKeyConstraint('stream', 'seq'),
    sa.UniqueConstraint('entry_id', name='ledger_entries_entry_id')
    )
    op.create_table('paper_days',
    sa.Column('strategy_slug', sa.String(length=128), nullable=False),
    sa.Column('day', sa.Integer(), nullable=False),
    sa.Column('equity_start_micros', sa.BigInteger(), nullable=False),
    sa.Column('equity_end_micros', sa.BigInteger(), nullable=False),
    sa.Column('capital_micros', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('strategy_slug', 'day')
    )
    op.create_table('pnl_entries',
    sa.Column('entry_id', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('bot_slug', sa.String(length=128), nullable=False),
    sa.Column('condition_id', sa.String(length=80), nullable=False),
    sa.Column('token_id', sa.String(length=80), nullable=False),
    sa.Column('builder_code', sa.String(length=66), nullable=False),
    sa.Column('side', sa.String(length=8), nullable=False),
    sa.Column('price', sa.String(length=32), nullable=False),
    sa.Column('size_micros', sa.BigInteger(), nullable=False),
    sa.Column('notional_micros', sa.BigInteger(), nullable=False),
    sa.Column('fee_micros', sa.BigInteger(), nullable=False),
    sa.Column('rebate_micros', sa.BigInteger(), nullable=False),
    sa.Column('realised_micros', sa.BigInteger(), nullable=False),
    sa.Column('at_us', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('entry_id')
    )
    with op.batch_alter_table('pnl_entries', schema=None) as batch_op:
        batch_op.create_index('pnl_entries_by_time', ['at_us'], unique=False)

    op.create_table('pnl_marks',
    sa.Column('token_id', sa.String(length=80), nullable=False),
    sa.Column('mark', sa.String(length=32), nullable=False),
    sa.PrimaryKeyConstraint('token_id')
    )
    op.create_table('pnl_positions',
    sa.Column('bot_slug', sa.String(length=128), nullable=False),
    sa.Column('token_id', sa.String(length=80), nullable=False),
    sa.Column('condition_id', sa.String(length=80), nullable=False),
    sa.Column('size_micros', sa.BigInteger(), nullable=False),
    sa.Column('cost_micros', sa.BigInteger(), nullable=False),
    sa.Column('realised_micros', sa.BigInteger(), nullable=False),
    sa.Column('resolved', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('bot_slug', 'token_id')
    )
    op.create_table('pnl_unpublished',
    sa.Column('report_id', sa.String(length=36), nullable=False),
    sa.Column('booked_at_us', sa.BigInteger(), nullable=False),
    sa.Column('payload', sa.LargeBinary(), nullable=False),
    sa.PrimaryKeyConstraint('report_id')
    )
    op.create_table('report_archive',
    sa.Column('seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=False, nullable=False),
    sa.Column('report_id', sa.String(length=36), nullable=False),
    sa.Column('kind', sa.SmallInteger(), nullable=False),
    sa.Column('bot_slug', sa.String(length=128), nullable=False),
    sa.Column('epoch', sa.Integer(), nullable=False),
    sa.Column('mode', sa.SmallInteger(), nullable=False),
    sa.Column('retention', sa.SmallInteger(), nullable=False),
    sa.Column('produced_at_us', sa.BigInteger(), nullable=False),
    sa.Column('received_at_us', sa.BigInteger(), nullable=False),
    sa.Column('expires_at_us', sa.BigInteger(), nullable=False),
    sa.Column('payload', sa.LargeBinary(), nullable=False),
    sa.PrimaryKeyConstraint('seq'),
    sa.UniqueConstraint('report_id')
    )
    op.create_table('slo_minutes',
    sa.Column('slo', sa.String(length=128), nullable=False),
    sa.Column('minute', sa.BigInteger(), nullable=False),
    sa.Column('good', sa.Integer(), nullable=False),
    sa.Column('total', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('slo', 'minute')
    )
    op.create_table('strategies',
    sa.Column('slug', sa.String(length=128), nullable=False),
    sa.Column('stage', sa.SmallInteger(), nullable=False),
    sa.Column('revision', sa.BigInteger(), nullable=False),
    sa.Column('state', sa.LargeBinary(), nullable=False),
    sa.PrimaryKeyConstraint('slug')
    )
    op.create_table('user_actions',
    sa.Column('action_id', sa.String(length=36), nullable=False),
    sa.Column('user_name', sa.String(length=128), nullable=False),
    sa.Column('session_id', sa.String(length=64), nullable=False),
    sa.Column('action', sa.String(length=128), nullable=False),
    sa.Column('target', sa.String(length=256), nullable=False),
    sa.Column('at_us', sa.BigInteger(), nullable=False),
    sa.Column('archive_seq', sa.BigInteger(), nullable=False),
    sa.Column('details_json', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('action_id')
    )
    with op.batch_alter_table('user_actions', schema=None) as batch_op:
        batch_op.create_index('user_actions_by_session', ['session_id'], unique=False)
        batch_op.create_index('user_actions_by_user_time', ['user_name', 'at_us'], unique=False)
    for statement in LEDGER_APPEND_ONLY.get(op.get_bind().dialect.name, []):
        op.execute(statement)

def downgrade() -> None:
    with op.batch_alter_table('user_actions', schema=None) as batch_op:
        batch_op.drop_index('user_actions_by_user_time')
        batch_op.drop_index('user_actions_by_session')

    op.drop_table('user_actions')
    op.drop_table('strategies')
    op.drop_table('slo_minutes')
    op.drop_table('report_archive')
    op.drop_table('pnl_unpublished')
    op.drop_table('pnl_positions')
    op.drop_table('pnl_marks')
    with op.batch_alter_table('pnl_entries', schema=None) as batch_op:
        batch_op.drop_index('pnl_entries_by_time')

    op.drop_table('pnl_entries')
    op.drop_table('paper_days')
    op.drop_table('ledger_entries')
    op.drop_table('ledger_cursor')
    op.drop_table('ledger_checkpoints')
    with op.batch_alter_table('incidents', schema=None) as batch_op:
        batch_op.drop_index('incidents_by_declared')

    op.drop_table('incidents')
    with op.batch_alter_table('explainer_trace_reports', schema=None) as batch_op:
        batch_op.drop_index('explainer_trace_reports_by_trace')

    op.drop_table('explainer_trace_reports')
    with op.batch_alter_table('explainer_explanations', schema=None) as batch_op:
        batch_op.drop_index('explainer_by_trace')
        batch_op.drop_index('explainer_by_fill')

    op.drop_table('explainer_explanations')
    op.drop_table('experiments')
    op.drop_table('experiment_samples')
    op.drop_table('cron_state')
    with op.batch_alter_table('cron_dispatches', schema=None) as batch_op:
        batch_op.drop_index('cron_dispatches_by_time')
        batch_op.drop_index('cron_dispatches_by_task')

    op.drop_table('cron_dispatches')
    with op.batch_alter_table('config_changes', schema=None) as batch_op:
        batch_op.drop_index('config_changes_by_bot_time')

    op.drop_table('config_changes')
    op.drop_table('backtests')
    op.drop_table('attribution_tags')
    with op.batch_alter_table('attribution_revenue_reports', schema=None) as batch_op:
        batch_op.drop_index('attribution_revenue_by_day')

    op.drop_table('attribution_revenue_reports')
    with op.batch_alter_table('attribution_reconciliations', schema=None) as batch_op:
        batch_op.drop_index('attribution_reconciliations_by_window')

    op.drop_table('attribution_reconciliations')
    with op.batch_alter_table('attribution_quarantine_records', schema=None) as batch_op:
        batch_op.drop_index('attribution_quarantine_records_by_key')

    op.drop_table('attribution_quarantine_records')
    with op.batch_alter_table('attribution_quarantine_cases', schema=None) as batch_op:
        batch_op.drop_index('attribution_quarantine_by_opened')

    op.drop_table('attribution_quarantine_cases')
    with op.batch_alter_table('attribution_fills', schema=None) as batch_op:
        batch_op.drop_index('attribution_fills_by_time')
        batch_op.drop_index('attribution_fills_by_bot_time')

    op.drop_table('attribution_fills')
    op.drop_table('attribution_exchange_trades')
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS ledger_entries_append_only()")
