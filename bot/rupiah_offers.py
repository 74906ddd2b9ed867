"""The rupiah offers both chat channels show: credit packs and plans, each with its pay link."""

from __future__ import annotations

from dataclasses import dataclass

from bot.chat import money
from bot.messages import text
from services.pay_links import pay_url
from services.settings import Settings
from services.topups import Catalog, MethodIncome, Product, bonus_percent

# The prefix of list rows and buttons that stand for a rupiah product (`rp:pack:50000`).
RUPIAH_ROW = "rp"


@dataclass(frozen=True, slots=True)
class Offer:
    product: Product
    label: str  # one line: what it costs and what it gives
    url: str


def product_label(product: Product, language: str, credit_price_rp: int) -> str:
    amount = money(product.amount_rp, language)
    if product.plan is not None:
        return text("pay.plan.line", language, plan=product.plan.title(), amount=amount)
    bonus = bonus_percent(product, credit_price_rp)
    credits = money(product.credits, language)
    if bonus:
        return text("pay.pack.line_bonus", language, amount=amount, credits=credits, bonus=bonus)
    return text("pay.pack.line", language, amount=amount, credits=credits)


def _offers(
    settings: Settings, products: list[Product], account_id: int, channel: str, language: str
) -> list[Offer]:
    secret = settings.payment_link_secret()
    return [
        Offer(
            product,
            product_label(product, language, settings.credit_price_rp),
            pay_url(settings.public_base_url, secret, account_id, product.code, channel),
        )
        for product in products
    ]


def pack_offers(settings: Settings, account_id: int, channel: str, language: str) -> list[Offer]:
    """The rupiah credit packs; empty when rupiah payments are not configured."""
    if not settings.payments_enabled:
        return []
    products = Catalog(settings.rupiah_credit_packs).pack_products()
    return _offers(settings, products, account_id, channel, language)


def plan_offers(settings: Settings, account_id: int, channel: str, language: str) -> list[Offer]:
    """A month of each plan in rupiah; empty when rupiah payments are not configured."""
    if not settings.payments_enabled:
        return []
    products = Catalog(settings.rupiah_credit_packs).plan_products()
    return _offers(settings, products, account_id, channel, language)


def offer_for(
    settings: Settings, account_id: int, channel: str, language: str, code: str
) -> Offer | None:
    """The offer of one product code, or None when it is not on sale."""
    for offer in (
        *pack_offers(settings, account_id, channel, language),
        *plan_offers(settings, account_id, channel, language),
    ):
        if offer.product.code == code:
            return offer
    return None


def income_text(incomes: list[MethodIncome], language: str) -> str:
    """Operators' view of rupiah income, one line per payment method."""
    lines = [text("pay.income.title", language)]
    lines.extend(
        text(
            "pay.income.line",
            language,
            method=income.method,
            orders=income.orders,
            amount=money(income.rupiah, language),
        )
        for income in incomes
    )
    if not incomes:
        lines.append(text("pay.income.none", language))
    return "\n".join(lines)
