"""The whole web process, built by its composition root, on the embedded queue."""

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.app import build_web_app
from services.settings import Settings
from tests.conftest import SHARED_DIR

MODELS = SHARED_DIR / "models"
TINY = "selfie-segmentation"


def service_settings(tmp_path, database_url, **extra) -> Settings:
    values = {
        "data_dir": tmp_path,
        "database_url": database_url,
        "models_dir": MODELS,
        "engine_basic": TINY,
        "engine_standard": TINY,
        "engine_professional": TINY,
        "engine_industry": TINY,
        "fallback_engine": TINY,
        "onnx_threads": 1,
        "worker_threads": 2,
        # Callback receivers in tests listen on loopback.
        "callback_allowed_hosts": "127.0.0.1",
        **extra,
    }
    return Settings(_env_file=None, **values)


@pytest.fixture
async def service(tmp_path, database_url):
    if not (MODELS / "selfie_segmentation.onnx").is_file():
        pytest.skip(f"the shared models are not at {MODELS}")
    app = build_web_app(service_settings(tmp_path, database_url))
    async with TestClient(TestServer(app)) as client:
        yield client
