"""WhatsApp messages are kept with their content until a job handles them

Revision ID: 0007
Revises: 0002
Create Date: 2026-12-01 15:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import db.models


revision: str = '0007'
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('whatsapp_inbound', schema=None) as batch_op:
        batch_op.add_column(sa.Column('payload', sa.JSON(), nullable=True))
        batch_op.add_column(
            sa.Column('handled_at', db.models.UTCDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table('whatsapp_inbound', schema=None) as batch_op:
        batch_op.drop_column('handled_at')
        batch_op.drop_column('payload')
