"""Another account's single image while integrators' callbacks hang: does it wait for them?

Run by hand, never by the test suite:

    .venv/bin/python bench/callbacks.py --hanging 8 --rounds 3

What runs: the whole web process (embedded queue, SQLite, the tiny selfie-segmentation model
from the shared models folder) and a callback receiver on loopback that holds every call open.
Each round times one `POST /remove` of a second account with no callback in flight, then again
while `--hanging` one-image batches of a first account have callbacks held open (more than the
image threads). Rounds interleave the two cases, so the machine's load touches both alike.
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

from aiohttp import FormData, web
from aiohttp.test_utils import TestClient, TestServer
from PIL import Image

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from bot.app import build_web_app  # noqa: E402
from bot.http_api import PREFIX  # noqa: E402
from db.engine import create_engine, create_session_factory  # noqa: E402
from db.migrate import upgrade  # noqa: E402
from db.uow import UnitOfWork  # noqa: E402
from services.accounts import ChannelIdentity, get_or_register  # noqa: E402
from services.api_keys import issue_key  # noqa: E402
from services.clock import utcnow  # noqa: E402
from services.settings import Settings  # noqa: E402

MODELS = Path(os.environ.get("BGBOT_SHARED_DIR", REPO_ROOT.parent / "shared")) / "models"
TINY = "selfie-segmentation"


def photo() -> bytes:
    buffer = io.BytesIO()
    image = Image.new("RGB", (640, 480), (240, 240, 240))
    image.paste((200, 40, 40), (160, 120, 480, 360))
    image.save(buffer, "JPEG")
    return buffer.getvalue()


async def new_key(uow: UnitOfWork, telegram_id: int) -> dict[str, str]:
    registration = await get_or_register(
        uow,
        ChannelIdentity(telegram_id=telegram_id),
        language="en",
        display_name="bench",
        welcome_credits=100_000,
        now=utcnow(),
    )
    issued = await issue_key(uow, registration.account.id, "bench", now=utcnow())
    return {"Authorization": f"Bearer {issued.secret}"}


async def timed_removal(
    client: TestClient[web.Request, web.Application], headers: dict[str, str]
) -> float:
    form = FormData()
    form.add_field("image", photo(), filename="a.jpg", content_type="image/jpeg")
    started = time.perf_counter()
    response = await client.post(f"{PREFIX}/remove", data=form, headers=headers)
    await response.read()
    assert response.status == 200, response.status
    return time.perf_counter() - started


async def main(hanging: int, rounds: int) -> None:
    release = asyncio.Event()
    all_held = asyncio.Event()
    held = 0
    target = hanging

    async def receive(request: web.Request) -> web.Response:
        nonlocal held
        held += 1
        if held >= target:
            all_held.set()
        await release.wait()
        return web.Response(text="ok")

    receiver = web.Application()
    receiver.router.add_post("/hook", receive)
    with tempfile.TemporaryDirectory() as folder:
        data_dir = Path(folder)
        settings = Settings(
            _env_file=None,
            data_dir=data_dir,
            models_dir=MODELS,
            engine_basic=TINY,
            engine_standard=TINY,
            engine_professional=TINY,
            engine_industry=TINY,
            fallback_engine=TINY,
            onnx_threads=1,
            worker_threads=2,
            callback_allowed_hosts=frozenset({"127.0.0.1"}),
            callback_timeout_seconds=60,
        )
        await asyncio.to_thread(upgrade, settings.resolved_database_url)
        engine = create_engine(settings.resolved_database_url)
        uow = UnitOfWork(create_session_factory(engine))
        slow, other = await new_key(uow, 1), await new_key(uow, 2)
        quiet: list[float] = []
        busy: list[float] = []
        async with (
            TestServer(receiver, host="127.0.0.1") as hook,
            TestClient(TestServer(build_web_app(settings))) as client,
        ):
            await timed_removal(client, other)  # loads the model
            for _ in range(rounds):
                quiet.append(await timed_removal(client, other))
                release.clear()
                all_held.clear()
                held = 0
                target = min(hanging, settings.callback_threads)
                for _ in range(hanging):
                    form = FormData()
                    form.add_field("images", photo(), filename="b.jpg", content_type="image/jpeg")
                    form.add_field("callback_url", str(hook.make_url("/hook")))
                    await client.post(f"{PREFIX}/batch", data=form, headers=slow)
                await all_held.wait()
                busy.append(await timed_removal(client, other))
                release.set()
                await asyncio.sleep(1.0)  # the held callbacks finish
        await engine.dispose()
    print(f"load average {os.getloadavg()}")
    print(f"no callback in flight:          median {statistics.median(quiet):.2f} s  {quiet}")
    print(f"{hanging} callbacks held open:   median {statistics.median(busy):.2f} s  {busy}")
    print(f"ratio busy/quiet: {statistics.median(busy) / statistics.median(quiet):.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--hanging", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.hanging, arguments.rounds))
