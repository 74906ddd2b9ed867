"""Chat latency of the Telegram bot: the whole web process against the fake Bot API, by hand.

    .venv/bin/python bench/telegram_chat.py --people 20
    .venv/bin/python bench/telegram_chat.py --people 50 --model isnet-imgly-medium --gather 1.5
    .venv/bin/python bench/telegram_chat.py --people 1 --model isnet-imgly-medium --size 1152x864 \
        --photo ../shared/datasets/composites/images/cup-on-brick.jpg   # a warm 1 MP photo

What runs: the composition root of `bgbot run` (SQLite, the embedded queue, the local model
from the shared models folder, default settings), with the real python-telegram-bot client
polling the fake Bot API of the tests over loopback. One person's photo goes through first,
untimed, so the model is loaded (and AUTO's choice measured) as in a service that is up
(`--cold` to time that too). Printed: how long `/help` takes to be answered when every person
sends it at once, and for a photo per person, the time from sending it to seeing the quote and
from tapping Basic to receiving the PNG document (the gather delay is inside the first figure).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from aiohttp.test_utils import TestClient, TestServer
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.app import build_web_app
from db.migrate import upgrade
from services.settings import Settings
from tests.fakes.telegram_api import TOKEN, FakeBotApi, Person

SHARED_MODELS = Path(__file__).resolve().parents[2] / "shared" / "models"


def photo(size: tuple[int, int], source: Path | None) -> bytes:
    """A JPEG of `size`: `source` resized (a real photo), else a red block on grey."""
    buffer = io.BytesIO()
    if source is not None:
        image = Image.open(source).convert("RGB").resize(size, Image.Resampling.LANCZOS)
    else:
        image = Image.new("RGB", size, (235, 235, 235))
        box = (size[0] // 4, size[1] // 4, size[0] * 3 // 4, size[1] * 3 // 4)
        image.paste((180, 50, 40), box)
    image.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def summary(label: str, seconds: list[float]) -> str:
    ordered = sorted(seconds)
    p95 = ordered[max(0, round(0.95 * len(ordered)) - 1)]
    return (
        f"{label}: n={len(ordered)} median={statistics.median(ordered):.2f}s "
        f"p95={p95:.2f}s max={ordered[-1]:.2f}s"
    )


async def run(
    people: int,
    model: str,
    gather: float,
    size: tuple[int, int],
    source: Path | None,
    *,
    warm: bool,
) -> None:
    directory = Path(tempfile.mkdtemp(prefix="bench-telegram-"))
    database_url = f"sqlite+aiosqlite:///{directory / 'bench.sqlite3'}"
    await asyncio.to_thread(upgrade, database_url)
    async with FakeBotApi() as api:
        settings = Settings(
            _env_file=None,
            telegram_bot_token=TOKEN,
            telegram_api_url=api.base_url,
            telegram_file_url=api.base_file_url,
            telegram_poll_seconds=1,
            gather_seconds=gather,
            data_dir=directory,
            database_url=database_url,
            models_dir=SHARED_MODELS,
            engine_basic=model,
            fallback_engine=model,
            welcome_credits=100,
        )
        async with TestClient(TestServer(build_web_app(settings))):
            crowd = [Person(user_id=10_000 + n, language_code="en") for n in range(people)]

            started = time.monotonic()
            for person in crowd:
                api.push(person.command("/help"))
            answered: dict[int, float] = {}
            while len(answered) < people:
                for person in crowd:
                    if person.user_id not in answered and api.sent_to(person.user_id):
                        answered[person.user_id] = time.monotonic() - started
                await asyncio.sleep(0.005)
            print(summary("/help answered", list(answered.values())))

            content = photo(size, source)
            if warm:
                # One person first, outside the figures: the model loads (and AUTO measures
                # its paths, once per machine) before the timed photos, as in a warm service.
                warm_up = Person(user_id=9_999, language_code="en")
                await photo_round(api, [warm_up], content)
            quoted, delivered = await photo_round(api, crowd, content)
            print(summary(f"photo to quote (gather {gather}s)", quoted))
            print(summary(f"tap to PNG ({model}, {size[0]}x{size[1]})", delivered))


async def photo_round(
    api: FakeBotApi, crowd: list[Person], content: bytes
) -> tuple[list[float], list[float]]:
    """Each person sends the photo and taps the first tier: seconds to quote, tap to PNG."""
    sent_at = {}
    for person in crowd:
        sent_at[person.user_id] = time.monotonic()
        api.push(person.photo(api, content))
    quoted: dict[int, float] = {}
    delivered: dict[int, float] = {}
    tapped_at: dict[int, float] = {}
    while len(delivered) < len(crowd):
        for person in crowd:
            uid = person.user_id
            messages = api.sent_to(uid)
            if uid not in quoted:
                quote = next(
                    (
                        m
                        for m in messages
                        if any(b.get("callback_data", "").startswith("q:") for b in m.buttons())
                    ),
                    None,
                )
                if quote is not None:
                    quoted[uid] = time.monotonic() - sent_at[uid]
                    data = quote.buttons()[0]["callback_data"]
                    tapped_at[uid] = time.monotonic()
                    api.push(person.tap(quote, data, f"bench-{uid}-{len(api.files)}"))
            elif uid not in delivered and any(m.document for m in messages):
                delivered[uid] = time.monotonic() - tapped_at[uid]
        await asyncio.sleep(0.005)
    return list(quoted.values()), list(delivered.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=20)
    parser.add_argument("--model", default="selfie-segmentation")
    parser.add_argument("--gather", type=float, default=1.5)
    parser.add_argument("--size", default="800x600")
    parser.add_argument("--photo", type=Path, help="a real photo to resize (default: drawn)")
    parser.add_argument("--cold", action="store_true", help="no warm-up photo first")
    args = parser.parse_args()
    width, height = (int(side) for side in args.size.split("x"))
    load = os.getloadavg()
    print(f"{os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    size = (width, height)
    asyncio.run(run(args.people, args.model, args.gather, size, args.photo, warm=not args.cold))


if __name__ == "__main__":
    main()
