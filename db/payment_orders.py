"""The SQL behind rupiah payment orders. Flushes, never commits; state changes are conditional."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import OrderStatus, PaymentOrder


class PaymentOrderRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, order: PaymentOrder) -> PaymentOrder:
        self.session.add(order)
        await self.session.flush()
        return order

    async def get(self, order_id: str) -> PaymentOrder | None:
        return await self.session.get(PaymentOrder, order_id)

    async def for_account(self, account_id: int, order_id: str) -> PaymentOrder | None:
        result = await self.session.execute(
            select(PaymentOrder).where(
                PaymentOrder.id == order_id, PaymentOrder.account_id == account_id
            )
        )
        return result.scalar_one_or_none()

    async def open_link(
        self, account_id: int, product: str, channel: str, valid_after: datetime
    ) -> PaymentOrder | None:
        """A pending order of the same product whose page stays open past `valid_after`."""
        result = await self.session.execute(
            select(PaymentOrder)
            .where(
                PaymentOrder.account_id == account_id,
                PaymentOrder.product == product,
                PaymentOrder.channel == channel,
                PaymentOrder.status == OrderStatus.PENDING,
                PaymentOrder.payment_url != "",
                PaymentOrder.expires_at > valid_after,
            )
            .order_by(PaymentOrder.created_at.desc())
            .limit(1)
        )
        return result.scalar_one_or_none()

    async def transition(
        self,
        order_id: str,
        from_statuses: Collection[str],
        to_status: str,
        *,
        refunded_rp_was: int | None = None,
        **values: Any,
    ) -> bool:
        """Move the order to `to_status` only from one of `from_statuses`; True when it moved.

        `refunded_rp_was` also requires the refunded amount the caller read, so that two
        applications of one refund cannot both move it.
        """
        conditions = [PaymentOrder.id == order_id, PaymentOrder.status.in_(list(from_statuses))]
        if refunded_rp_was is not None:
            conditions.append(PaymentOrder.refunded_amount_rp == refunded_rp_was)
        result = await self.session.execute(
            update(PaymentOrder)
            .where(*conditions)
            .values(status=to_status, **values)
            .execution_options(synchronize_session=False)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def claim_notice(self, order_id: str, now: datetime, stale_before: datetime) -> bool:
        """Claim the sending of the order's notice; a claim older than `stale_before` lapses."""
        result = await self.session.execute(
            update(PaymentOrder)
            .where(
                PaymentOrder.id == order_id,
                PaymentOrder.notice_sent_at.is_(None),
                or_(
                    PaymentOrder.notice_claimed_at.is_(None),
                    PaymentOrder.notice_claimed_at < stale_before,
                ),
            )
            .values(notice_claimed_at=now)
            .execution_options(synchronize_session=False)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def release_notice(self, order_id: str) -> None:
        await self.session.execute(
            update(PaymentOrder)
            .where(PaymentOrder.id == order_id, PaymentOrder.notice_sent_at.is_(None))
            .values(notice_claimed_at=None)
            .execution_options(synchronize_session=False)
        )

    async def mark_notice_sent(self, order_id: str, now: datetime) -> None:
        await self.session.execute(
            update(PaymentOrder)
            .where(PaymentOrder.id == order_id)
            .values(notice_sent_at=now)
            .execution_options(synchronize_session=False)
        )

    async def unsent_notices(self, paid_after: datetime, paid_before: datetime) -> Sequence[str]:
        """Orders paid between the two times whose receipt has not gone out: lost on the way."""
        result = await self.session.execute(
            select(PaymentOrder.id).where(
                PaymentOrder.paid_at > paid_after,
                PaymentOrder.paid_at < paid_before,
                PaymentOrder.notice_sent_at.is_(None),
            )
        )
        return result.scalars().all()

    async def expire_pending(self, before: datetime) -> int:
        """Close pending orders whose payment page closed before `before`."""
        result = await self.session.execute(
            update(PaymentOrder)
            .where(PaymentOrder.status == OrderStatus.PENDING, PaymentOrder.expires_at < before)
            .values(status=OrderStatus.EXPIRED)
            .execution_options(synchronize_session=False)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def claim_renewal(self, order_id: str, now: datetime) -> bool:
        result = await self.session.execute(
            update(PaymentOrder)
            .where(PaymentOrder.id == order_id, PaymentOrder.renewal_sent_at.is_(None))
            .values(renewal_sent_at=now)
            .execution_options(synchronize_session=False)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def paid_plan_orders(self) -> Sequence[PaymentOrder]:
        """Paid plan orders, newest payment last."""
        result = await self.session.execute(
            select(PaymentOrder)
            .where(PaymentOrder.plan.is_not(None), PaymentOrder.status == OrderStatus.PAID)
            .order_by(PaymentOrder.paid_at)
        )
        return result.scalars().all()

    async def recent(self, limit: int) -> Sequence[PaymentOrder]:
        result = await self.session.execute(
            select(PaymentOrder).order_by(PaymentOrder.created_at.desc()).limit(limit)
        )
        return result.scalars().all()

    async def income_by_method(self) -> Sequence[tuple[str, int, int]]:
        """(method, paid orders, rupiah kept after refunds) for every method that took money."""
        kept = func.sum(PaymentOrder.amount_rp - PaymentOrder.refunded_amount_rp)
        result = await self.session.execute(
            select(PaymentOrder.method, func.count(PaymentOrder.id), kept)
            .where(PaymentOrder.paid_at.is_not(None))
            .group_by(PaymentOrder.method)
            .order_by(PaymentOrder.method)
        )
        return [(method, int(count), int(total or 0)) for method, count, total in result.all()]
