"""Rupiah offers as chat buttons and labels."""

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.rupiah_offers import Offer, product_label
from bot.telegram.rupiah import with_rupiah_buttons
from services.topups import Catalog, Product, bonus_percent

CATALOG = Catalog({50_000: 500, 100_000: 1_050, 250_000: 2_750})


def test_larger_packs_carry_their_bonus_in_the_label():
    packs = CATALOG.pack_products()
    assert [bonus_percent(p, 100) for p in packs] == [0, 5, 10]
    assert product_label(packs[1], "id", 100) == "Rp 100.000 → 1.050 kredit (bonus 5%)"
    assert product_label(packs[0], "en", 100) == "Rp 50,000 → 500 credits"


def test_telegram_gets_buttons_only_for_links_on_a_public_address():
    stars = InlineKeyboardMarkup([[InlineKeyboardButton("100", callback_data="buy:100")]])
    product = Product("pack:50000", 50_000, 500)

    def offer(url: str) -> Offer:
        return Offer(product, "Rp 50.000", url)

    local = with_rupiah_buttons(stars, [offer("http://localhost:8080/pay/x")])
    private = with_rupiah_buttons(stars, [offer("http://10.0.0.5/pay/x")])
    public = with_rupiah_buttons(stars, [offer("https://bg.example.id/pay/x")])
    assert len(local.inline_keyboard) == len(private.inline_keyboard) == 1
    assert public.inline_keyboard[1][0].url == "https://bg.example.id/pay/x"
