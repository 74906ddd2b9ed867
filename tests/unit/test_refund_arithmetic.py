"""A gateway refund's credit arithmetic: never below zero, never more than the pack gave."""

from hypothesis import given, settings
from hypothesis import strategies as st

from services.topups import credits_to_take_back


# No deadline: the machine is shared, and timing is not what this test is about.
@settings(deadline=None)
@given(
    credits=st.integers(1, 10_000),
    amount_rp=st.integers(1_000, 1_000_000),
    steps=st.lists(st.tuples(st.integers(0, 1_000_000), st.integers(0, 20_000)), max_size=6),
)
def test_successive_refunds_take_back_at_most_the_pack_and_never_overdraw(
    credits, amount_rp, steps
):
    # Given refunds of growing totals, each met with some balance, then a full refund
    taken_total = short_total = refunded = 0
    for increase, balance in [*steps, (amount_rp, 0)]:
        refunded = min(amount_rp, refunded + increase)
        full = refunded >= amount_rp
        taken, short = credits_to_take_back(
            credits=credits,
            amount_rp=amount_rp,
            refunded_rp=refunded,
            full=full,
            taken_before=taken_total,
            short_before=short_total,
            balance=balance,
        )
        assert 0 <= taken <= balance
        assert short >= 0
        taken_total += taken
        short_total += short
        assert taken_total + short_total <= credits
    # Then after the full refund every credit of the pack is either back or recorded as spent
    assert taken_total + short_total == credits


def test_half_refunded_pack_takes_half_its_credits_and_records_what_was_spent():
    assert credits_to_take_back(
        credits=500,
        amount_rp=50_000,
        refunded_rp=25_000,
        full=False,
        taken_before=0,
        short_before=0,
        balance=100,
    ) == (100, 150)
