"""A loopback HTTP server in a thread of its own, for code that calls HTTP synchronously.

The engines and the model download use a blocking httpx client, so the fake cannot share the
test's event loop: it runs its own loop in a daemon thread.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field

import pytest
from aiohttp import web

from tests.conftest import SHARED_DIR

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
MODELS_DIR = SHARED_DIR / "models"


def needs_model(filename: str) -> pytest.MarkDecorator:
    """Skip a test, saying why, when a file of ../shared/models is absent."""
    return pytest.mark.skipif(
        not (MODELS_DIR / filename).is_file(),
        reason=f"{MODELS_DIR / filename} is absent (the shared models folder is not here)",
    )


@dataclass
class LoopbackServer:
    """Serves scripted answers; `requests` records (method, path, headers, body) of each call."""

    routes: dict[str, Handler] = field(default_factory=dict)
    requests: list[tuple[str, str, dict[str, str], bytes]] = field(default_factory=list)
    url: str = ""

    def route(self, path: str) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.routes[path] = handler
            return handler

        return register

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.requests.append((request.method, request.path, dict(request.headers), body))
        handler = self.routes.get(request.path)
        if handler is None:
            return web.Response(status=404, text="no such route in the fake")
        return await handler(request)


@pytest.fixture
def loopback() -> Iterator[LoopbackServer]:
    server = LoopbackServer()
    loop = asyncio.new_event_loop()
    app = web.Application(client_max_size=64 * 2**20)
    app.router.add_route("*", "/{tail:.*}", server._dispatch)
    runner = web.AppRunner(app)
    ready = threading.Event()

    async def start() -> None:
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        server.url = f"http://127.0.0.1:{port}"
        ready.set()

    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(start(), loop).result(10)
    ready.wait(10)
    yield server
    asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    loop.close()
