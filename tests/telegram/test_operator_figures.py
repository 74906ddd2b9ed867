"""The operators' /admin figures through the real client and the fake Bot API."""

from __future__ import annotations

from tests.telegram.conftest import Harness, button, photo_bytes


async def _text_containing(telegram: Harness, chat_id: int, fragment: str) -> str:
    found = await telegram.api.wait_for(
        lambda: [m.text for m in telegram.api.sent_to(chat_id) if fragment in (m.text or "")],
        what=f"a message containing {fragment!r}",
    )
    return str(found[-1])


async def test_admin_shows_income_by_source_and_margin_per_tier(telegram: Harness):
    # Given a Stars pack, a Stars starter plan, and one photo paid by the plan's quota
    api = telegram.api
    sari = telegram.person()
    api.push(sari.paid("pack:100:50", 50, "pk-1"))
    await _text_containing(telegram, sari.user_id, "ditambahkan")
    api.push(sari.paid("plan:starter:480", 480, "st-1", recurring="first"))
    await _text_containing(telegram, sari.user_id, "Paket Starter aktif")
    api.push(sari.photo(api, photo_bytes()))
    quote = await telegram.quote_for(sari)
    telegram.tap(sari, quote, button(quote, "q:").rsplit(":", 1)[0] + ":basic")
    await api.wait_for(lambda: [m for m in api.sent_to(sari.user_id) if m.document])
    await telegram.delivered(sari.user_id)
    operator = telegram.person(9001, language="en")

    # When an operator asks for the figures
    api.push(operator.command("/admin"))

    # Then each income source is there in rupiah, gifts apart, and the quota's image costs
    # the engine while the plan's income pays for it
    figures = await _text_containing(telegram, operator.user_id, "Income by source")
    assert "Users: 2" in figures
    assert "• Credit packs (Stars): 1×, 50 ⭐ (Rp 10,000)" in figures
    assert "• Plans (Stars): 1×, 480 ⭐ (Rp 99,000)" in figures
    assert "Money in (Stars and rupiah): Rp 109,000" in figures
    assert "Credits given (not income): 60 credits (Rp 6,000)" in figures
    assert "• Basic: 0 images, Rp 0 − Rp 0 = Rp 0 (–)" in figures
    assert "• Plan quotas: 1 images, Rp 99,000 − Rp 18 = Rp 98,982 (100%)" in figures
    assert "Total: Rp 99,000 − Rp 18 = Rp 98,982 (100%)" in figures
