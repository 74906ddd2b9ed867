"""Remote engines against loopback fakes of the Hugging Face and Segmind HTTP APIs."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import httpx
import numpy as np
import pytest
from aiohttp import web
from PIL import Image

from services.engines.base import EngineFailed, EngineUnavailable
from services.engines.registry import EngineCatalog, EngineConfig
from services.engines.remote import HuggingFaceEngine, RetryPolicy, SegmindEngine
from services.pricing import Tier
from tests.engines.conftest import MODELS_DIR, LoopbackServer, needs_model

FAST_RETRY = RetryPolicy(attempts=3, first_wait=0.0, max_wait=0.0, timeout=5.0)
SIZE = (64, 48)


def _photo() -> Image.Image:
    return Image.new("RGB", SIZE, (200, 30, 30))


def _half_mask_png(mode: str = "L") -> bytes:
    """A mask whose left half is foreground, as L, or as the alpha of an RGBA cut-out."""
    alpha = Image.new("L", SIZE, 0)
    alpha.paste(255, (0, 0, SIZE[0] // 2, SIZE[1]))
    picture = alpha
    if mode == "RGBA":
        picture = Image.new("RGBA", SIZE, (10, 20, 30, 0))
        picture.putalpha(alpha)
    buffer = io.BytesIO()
    picture.save(buffer, "PNG")
    return buffer.getvalue()


def _assert_left_half(mask: np.ndarray) -> None:
    assert mask.shape == (SIZE[1], SIZE[0])
    assert mask.dtype == np.float32
    assert mask[:, : SIZE[0] // 2].min() > 0.99
    assert mask[:, SIZE[0] // 2 :].max() < 0.01


def _segments_json() -> list[dict[str, object]]:
    mask = base64.b64encode(_half_mask_png()).decode()
    return [{"label": "foreground", "score": 0.98, "mask": mask}]


@pytest.fixture
def client():
    with httpx.Client() as http:
        yield http


def _huggingface(server: LoopbackServer, client: httpx.Client) -> HuggingFaceEngine:
    return HuggingFaceEngine(
        "briaai/RMBG-1.4", base_url=server.url, api_key="hf-key", client=client, policy=FAST_RETRY
    )


def _segmind(server: LoopbackServer, client: httpx.Client) -> SegmindEngine:
    return SegmindEngine(
        "birefnet", base_url=server.url + "/v1", api_key="sm-key", client=client, policy=FAST_RETRY
    )


def test_huggingface_engine_reads_the_mask_of_an_image_segmentation_answer(loopback, client):
    @loopback.route("/models/briaai/RMBG-1.4")
    async def answer(request: web.Request) -> web.Response:
        return web.json_response(_segments_json())

    mask = _huggingface(loopback, client).mask(_photo())

    _assert_left_half(mask)
    method, _, headers, body = loopback.requests[0]
    assert method == "POST"
    assert headers["Authorization"] == "Bearer hf-key"
    assert Image.open(io.BytesIO(body)).size == SIZE  # the raw image is the request body


@pytest.mark.parametrize("status", [429, 503])
def test_huggingface_engine_retries_a_rate_limit_or_outage_then_succeeds(loopback, client, status):
    answers = iter([web.json_response({"error": "busy"}, status=status)])

    @loopback.route("/models/briaai/RMBG-1.4")
    async def answer(request: web.Request) -> web.Response:
        return next(answers, None) or web.json_response(_segments_json())

    mask = _huggingface(loopback, client).mask(_photo())

    _assert_left_half(mask)
    assert len(loopback.requests) == 2


def test_huggingface_engine_gives_up_as_unavailable_after_its_attempts(loopback, client):
    @loopback.route("/models/briaai/RMBG-1.4")
    async def answer(request: web.Request) -> web.Response:
        return web.json_response({"error": "Model is loading"}, status=503)

    with pytest.raises(EngineUnavailable):
        _huggingface(loopback, client).mask(_photo())
    assert len(loopback.requests) == FAST_RETRY.attempts


@pytest.mark.parametrize(
    "payload",
    [
        {"error": "not a list"},
        [{"label": "foreground", "score": 1.0}],
        [{"label": "foreground", "score": 1.0, "mask": "%%% not base64 %%%"}],
        [{"label": "foreground", "score": 1.0, "mask": base64.b64encode(b"no png").decode()}],
    ],
)
def test_huggingface_engine_fails_permanently_on_a_bad_payload(loopback, client, payload):
    @loopback.route("/models/briaai/RMBG-1.4")
    async def answer(request: web.Request) -> web.Response:
        return web.json_response(payload)

    with pytest.raises(EngineFailed):
        _huggingface(loopback, client).mask(_photo())
    assert len(loopback.requests) == 1  # a bad answer is not retried


def test_huggingface_engine_does_not_retry_a_refusal(loopback, client):
    @loopback.route("/models/briaai/RMBG-1.4")
    async def answer(request: web.Request) -> web.Response:
        return web.json_response({"error": "Invalid credentials"}, status=401)

    with pytest.raises(EngineFailed):
        _huggingface(loopback, client).mask(_photo())
    assert len(loopback.requests) == 1


def test_segmind_engine_takes_the_mask_from_the_cutouts_alpha(loopback, client):
    @loopback.route("/v1/birefnet")
    async def answer(request: web.Request) -> web.Response:
        return web.Response(body=_half_mask_png("RGBA"), content_type="image/png")

    mask = _segmind(loopback, client).mask(_photo())

    _assert_left_half(mask)
    _, _, headers, body = loopback.requests[0]
    assert headers["x-api-key"] == "sm-key"
    sent = json.loads(body)
    assert Image.open(io.BytesIO(base64.b64decode(sent["image"]))).size == SIZE


def test_segmind_engine_retries_a_503_then_succeeds(loopback, client):
    answers = iter([web.Response(status=503, text="overloaded")])

    @loopback.route("/v1/birefnet")
    async def answer(request: web.Request) -> web.Response:
        return next(answers, None) or web.Response(
            body=_half_mask_png("RGBA"), content_type="image/png"
        )

    _assert_left_half(_segmind(loopback, client).mask(_photo()))
    assert len(loopback.requests) == 2


def test_segmind_engine_fails_permanently_on_a_json_answer(loopback, client):
    @loopback.route("/v1/birefnet")
    async def answer(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "image": None})

    with pytest.raises(EngineFailed):
        _segmind(loopback, client).mask(_photo())


def _catalog(server: LoopbackServer, models_dir: Path, *, key: str | None) -> EngineCatalog:
    return EngineCatalog(
        EngineConfig(
            tier_engines={
                Tier.BASIC: "selfie-segmentation",
                Tier.STANDARD: "huggingface:briaai/RMBG-2.0",
                Tier.PROFESSIONAL: "segmind:birefnet",
                Tier.INDUSTRY: "segmind:birefnet",
            },
            fallback="selfie-segmentation",
            models_dir=models_dir,
            threads=1,
            huggingface_url=server.url,
            huggingface_key=key,
            segmind_url=server.url + "/v1",
            segmind_key=key,
            retry=FAST_RETRY,
        )
    )


@needs_model("selfie_segmentation.onnx")
def test_a_remote_tier_falls_back_to_the_local_model_while_the_api_stays_down(loopback):
    @loopback.route("/models/briaai/RMBG-2.0")
    async def answer(request: web.Request) -> web.Response:
        return web.Response(status=503, text="down")

    engine = _catalog(loopback, MODELS_DIR, key="hf-key").for_tier(Tier.STANDARD)
    mask = engine.mask(_photo())

    assert engine.fallback is not None
    assert engine.fallback.name == "selfie-segmentation"
    assert mask.shape == (SIZE[1], SIZE[0])
    assert len(loopback.requests) == FAST_RETRY.attempts


@needs_model("selfie_segmentation.onnx")
def test_a_remote_tier_does_not_fall_back_on_a_permanent_failure(loopback):
    @loopback.route("/v1/birefnet")
    async def answer(request: web.Request) -> web.Response:
        return web.Response(status=400, text="bad image")

    engine = _catalog(loopback, MODELS_DIR, key="sm-key").for_tier(Tier.PROFESSIONAL)

    with pytest.raises(EngineFailed):
        engine.mask(_photo())


def test_a_remote_tier_without_its_key_is_served_by_the_local_fallback(loopback, tmp_path):
    engine = _catalog(loopback, tmp_path, key=None).for_tier(Tier.STANDARD)

    assert engine.name == "selfie-segmentation"
    assert not loopback.requests
