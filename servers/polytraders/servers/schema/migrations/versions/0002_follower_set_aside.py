"""Followers set aside what they cannot store

Revision ID: 0002_follower_set_aside
Revises: 0001_baseline
Create Date: 2026-12-06

Expand only: add tables, nullable or defaulted columns, indexes (CONCURRENTLY on PostgreSQL).
A drop or a rename waits for the next release, so the previous release keeps serving.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0002_follower_set_aside'
down_revision = '0001_baseline'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('follower_set_aside',
    sa.Column('follower', sa.String(length=64), nullable=False),
    sa.Column('report_id', sa.String(length=36), nullable=False),
    sa.Column('archive_seq', sa.BigInteger(), nullable=False),
    sa.Column('bot_slug', sa.String(length=128), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('set_aside_at_us', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('follower', 'report_id')
    )
    with op.batch_alter_table('follower_set_aside', schema=None) as batch_op:
        batch_op.create_index('follower_set_aside_by_seq', ['follower', 'archive_seq'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('follower_set_aside', schema=None) as batch_op:
        batch_op.drop_index('follower_set_aside_by_seq')

    op.drop_table('follower_set_aside')
