"""`bgbot admin payments`: the newest rupiah payment orders, for operators."""

from __future__ import annotations

import click

from bot.cli.core import run_with_uow
from db.uow import UnitOfWork
from services.settings import load_settings
from services.topups import OrderView, recent_orders


def order_line(order: OrderView) -> str:
    refund = ""
    if order.refunded_amount_rp:
        refund = f" refunded Rp {order.refunded_amount_rp:,} ({order.refunded_credits} credits"
        refund += f", {order.refund_shortfall} already spent)" if order.refund_shortfall else ")"
    paid = f" paid {order.paid_at:%Y-%m-%d %H:%M}" if order.paid_at else ""
    return (
        f"{order.created_at:%Y-%m-%d %H:%M} {order.order_id} account {order.account_id} "
        f"{order.product} Rp {order.amount_rp:,} {order.status}"
        f"{' via ' + order.method if order.method else ''}{paid}{refund}"
    )


@click.command("payments")
@click.option("--limit", type=click.IntRange(1, 1000), default=20, show_default=True)
def payments(limit: int) -> None:
    """List the newest rupiah payment orders (times in UTC)."""

    async def use_case(uow: UnitOfWork) -> list[OrderView]:
        return await recent_orders(uow, limit)

    orders = run_with_uow(load_settings(), use_case)
    if not orders:
        click.echo("no payment orders")
    for order in orders:
        click.echo(order_line(order))
