"""Rupiah payment orders (payment links for packs and plans), and reminders sent once

Revision ID: 0006
Revises: 0002
Create Date: 2026-12-01 15:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import db.models


revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('payment_orders',
    sa.Column('id', sa.String(length=50), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('provider', sa.String(length=32), nullable=False),
    sa.Column('product', sa.String(length=64), nullable=False),
    sa.Column('amount_rp', sa.Integer(), nullable=False),
    sa.Column('credits', sa.Integer(), nullable=False),
    sa.Column('plan', sa.String(length=16), nullable=True),
    sa.Column('status', sa.String(length=24), nullable=False),
    sa.Column('gateway_status', sa.String(length=32), nullable=False),
    sa.Column('method', sa.String(length=32), nullable=False),
    sa.Column('payment_url', sa.String(length=512), nullable=False),
    sa.Column('reference', sa.String(length=128), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('chat', sa.JSON(), nullable=False),
    sa.Column('language', sa.String(length=8), nullable=False),
    sa.Column('refunded_amount_rp', sa.Integer(), nullable=False),
    sa.Column('refunded_credits', sa.Integer(), nullable=False),
    sa.Column('refund_shortfall', sa.Integer(), nullable=False),
    sa.Column('expires_at', db.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('paid_at', db.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('refunded_at', db.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('notice_claimed_at', db.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('notice_sent_at', db.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('renewal_sent_at', db.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', db.models.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_payment_orders_account_id_accounts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payment_orders'))
    )
    with op.batch_alter_table('payment_orders', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_payment_orders_account_id'), ['account_id'], unique=False)
        batch_op.create_index('ix_payment_orders_status_created_at', ['status', 'created_at'], unique=False)

    op.create_table('reminder_preferences',
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('updated_at', db.models.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_reminder_preferences_account_id_accounts')),
    sa.PrimaryKeyConstraint('account_id', name=op.f('pk_reminder_preferences'))
    )
    op.create_table('reminders_sent',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('subject', sa.String(length=64), nullable=False),
    sa.Column('sent_at', db.models.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_reminders_sent_account_id_accounts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reminders_sent')),
    sa.UniqueConstraint('account_id', 'kind', 'subject', name=op.f('uq_reminders_sent_account_id'))
    )
    with op.batch_alter_table('reminders_sent', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_reminders_sent_account_id'), ['account_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('reminders_sent', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_reminders_sent_account_id'))

    op.drop_table('reminders_sent')
    op.drop_table('reminder_preferences')
    with op.batch_alter_table('payment_orders', schema=None) as batch_op:
        batch_op.drop_index('ix_payment_orders_status_created_at')
        batch_op.drop_index(batch_op.f('ix_payment_orders_account_id'))

    op.drop_table('payment_orders')
