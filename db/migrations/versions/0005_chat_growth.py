"""Chat growth: invite codes and referrals, promo codes, free previews, cancelled batches

Revision ID: 0005
Revises: 0002
Create Date: 2026-12-01 15:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import db.models

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "invite_codes",
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("created_at", db.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_invite_codes_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_invite_codes")),
        sa.UniqueConstraint("account_id", name=op.f("uq_invite_codes_account_id")),
    )
    op.create_table(
        "referrals",
        sa.Column("invitee_account_id", sa.Integer(), nullable=False),
        sa.Column("referrer_account_id", sa.Integer(), nullable=False),
        sa.Column("referrer_credits", sa.Integer(), nullable=False),
        sa.Column("invitee_credits", sa.Integer(), nullable=False),
        sa.Column("created_at", db.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("rewarded_at", db.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("rewarded_batch_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["invitee_account_id"],
            ["accounts.id"],
            name=op.f("fk_referrals_invitee_account_id_accounts"),
        ),
        sa.ForeignKeyConstraint(
            ["referrer_account_id"],
            ["accounts.id"],
            name=op.f("fk_referrals_referrer_account_id_accounts"),
        ),
        sa.PrimaryKeyConstraint("invitee_account_id", name=op.f("pk_referrals")),
    )
    with op.batch_alter_table("referrals", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_referrals_referrer_account_id"), ["referrer_account_id"], unique=False
        )
    op.create_table(
        "promo_codes",
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("credits", sa.Integer(), nullable=False),
        sa.Column("max_uses", sa.Integer(), nullable=False),
        sa.Column("uses", sa.Integer(), nullable=False),
        sa.Column("expires_at", db.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", db.models.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("uses <= max_uses", name=op.f("ck_promo_codes_uses_within_limit")),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_promo_codes")),
    )
    op.create_table(
        "promo_redemptions",
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("created_at", db.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_promo_redemptions_account_id_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["code"], ["promo_codes.code"], name=op.f("fk_promo_redemptions_code_promo_codes")
        ),
        sa.PrimaryKeyConstraint("code", "account_id", name=op.f("pk_promo_redemptions")),
    )
    op.create_table(
        "preview_usage",
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("used", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_preview_usage_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("account_id", "day", name=op.f("pk_preview_usage")),
    )
    with op.batch_alter_table("batches", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("cancelled_at", db.models.UTCDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("batches", schema=None) as batch_op:
        batch_op.drop_column("cancelled_at")
    op.drop_table("preview_usage")
    op.drop_table("promo_redemptions")
    op.drop_table("promo_codes")
    with op.batch_alter_table("referrals", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_referrals_referrer_account_id"))
    op.drop_table("referrals")
    op.drop_table("invite_codes")
