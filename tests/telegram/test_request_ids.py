"""Each Telegram update names the records of its handling, down to the worker's job."""

from __future__ import annotations

from tests.telegram.conftest import Harness, button, photo_bytes


async def test_the_job_a_tap_started_is_logged_with_the_taps_update_id(
    telegram: Harness, worker_records
):
    # Given a quote for one photo
    api = telegram.api
    sari = telegram.person()
    api.push(sari.photo(api, photo_bytes((96, 64))))
    quote = await telegram.quote_for(sari)

    # When the person taps Basic
    data = button(quote, "q:").rsplit(":", 1)[0] + ":basic"
    tap = api.push(sari.tap(quote, data, "cq-trace"))
    await api.wait_for(
        lambda: [m for m in api.sent_to(sari.user_id) if m.document], what="the result"
    )

    # Then the worker's record of the job names that update
    done = [r for r in worker_records if "cut out at basic" in r.getMessage()]
    assert [r.request_id for r in done] == [f"tg-{tap['update_id']}"]
