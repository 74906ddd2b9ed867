"""Reminders and payment notices are claimed first and marked delivered only after the send

Revision ID: 0009
Revises: 0007
Create Date: 2026-12-01 17:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import db.models


revision: str = '0009'
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('reminders_sent', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('delivered_at', db.models.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column('attempts', sa.Integer(), nullable=False, server_default='0')
        )
        batch_op.add_column(sa.Column('payload', sa.JSON(), nullable=True))
    # Rows from before were recorded as sent when they were tried: never try them again.
    op.execute("UPDATE reminders_sent SET delivered_at = sent_at, attempts = 1")


def downgrade() -> None:
    with op.batch_alter_table('reminders_sent', schema=None) as batch_op:
        batch_op.drop_column('payload')
        batch_op.drop_column('attempts')
        batch_op.drop_column('delivered_at')
