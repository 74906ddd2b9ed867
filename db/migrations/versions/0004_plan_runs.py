"""One active plan per account: paid part, replacement and provider renewal of each plan run

Revision ID: 0004
Revises: 0002
Create Date: 2026-12-01 15:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import db.models

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("paid_until", db.models.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("replaced_at", db.models.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("provider_subscription_id", sa.String(length=255), nullable=True)
        )
        batch_op.add_column(
            sa.Column("renewal_stopped_at", db.models.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.create_index(
            batch_op.f("ix_subscriptions_provider_subscription_id"),
            ["provider_subscription_id"],
            unique=False,
        )
    # Plans bought before this revision: their whole period counts as paid, except the
    # operators' grants; the first charge of each Stars subscription names its renewal.
    op.execute("UPDATE subscriptions SET paid_until = period_end WHERE source <> 'admin'")
    op.execute(
        """
        UPDATE subscriptions SET provider_subscription_id = (
            SELECT p.provider_charge_id FROM payments p
            WHERE p.account_id = subscriptions.account_id
              AND p.provider = subscriptions.source
              AND p.product = 'plan:' || subscriptions.plan || ':' || 'subscription'
              AND p.refunded_at IS NULL
            ORDER BY p.id DESC LIMIT 1
        )
        WHERE auto_renew
        """
    )


def downgrade() -> None:
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_subscriptions_provider_subscription_id"))
        batch_op.drop_column("renewal_stopped_at")
        batch_op.drop_column("provider_subscription_id")
        batch_op.drop_column("replaced_at")
        batch_op.drop_column("paid_until")
