"""The broker relay's cursor

Revision ID: 0003_bus_relay_cursor
Revises: 0002_follower_set_aside
Create Date: 2026-12-06

Expand only: add tables, nullable or defaulted columns, indexes (CONCURRENTLY on PostgreSQL).
A drop or a rename waits for the next release, so the previous release keeps serving.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0003_bus_relay_cursor'
down_revision = '0002_follower_set_aside'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('bus_relay_cursors',
    sa.Column('relay', sa.String(length=32), nullable=False),
    sa.Column('cursor', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('relay')
    )


def downgrade() -> None:
    op.drop_table('bus_relay_cursors')
