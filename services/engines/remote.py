"""Remote inference APIs (Hugging Face, Segmind) with retries, and the local fallback.

Request shapes, as documented by the providers: Hugging Face's Inference API takes the raw
image bytes (`POST {base}/models/{model}`, bearer token) and answers an image-segmentation
model with a JSON list of `{"label", "score", "mask"}` where `mask` is a base64 PNG; Segmind
takes JSON with the base64 image (`POST {base}/{model}`, `x-api-key` header) and answers with
the cut-out image itself, whose alpha channel is the mask.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
from dataclasses import dataclass

import httpx
import numpy as np
from PIL import Image, UnidentifiedImageError
from tenacity import (
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)

from services.engines.base import (
    EngineFailed,
    EngineUnavailable,
    Mask,
    SegmentationEngine,
)

TRANSIENT_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 3
    first_wait: float = 1.0
    max_wait: float = 20.0
    timeout: float = 60.0


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def _mask_from_png(data: bytes, size: tuple[int, int], *, alpha: bool) -> Mask:
    try:
        with Image.open(io.BytesIO(data)) as picture:
            channel = picture.getchannel("A") if alpha else picture.convert("L")
            channel = channel.resize(size, Image.Resampling.BILINEAR)
    except (UnidentifiedImageError, OSError, ValueError) as error:
        raise EngineFailed(f"the engine answered an unreadable image: {error}") from None
    return np.asarray(channel, dtype=np.float32) / 255.0


class _RemoteEngine:
    name: str

    def __init__(self, client: httpx.Client, policy: RetryPolicy) -> None:
        self.client = client
        self.policy = policy

    def _post(self, url: str, **request: object) -> httpx.Response:
        def attempt() -> httpx.Response:
            try:
                response = self.client.post(url, timeout=self.policy.timeout, **request)  # type: ignore[arg-type]
            except httpx.TransportError as error:
                raise EngineUnavailable(f"{self.name}: {type(error).__name__}") from error
            if response.status_code in TRANSIENT_STATUSES:
                raise EngineUnavailable(f"{self.name}: HTTP {response.status_code}")
            if response.status_code >= 400:
                raise EngineFailed(f"{self.name}: HTTP {response.status_code}")
            return response

        retrying = Retrying(
            retry=retry_if_exception_type(EngineUnavailable),
            stop=stop_after_attempt(self.policy.attempts),
            wait=wait_exponential(multiplier=self.policy.first_wait, max=self.policy.max_wait),
            reraise=True,
        )
        return retrying(attempt)


class HuggingFaceEngine(_RemoteEngine):
    """An image-segmentation model on the Hugging Face Inference API (RMBG-1.4, RMBG-2.0)."""

    def __init__(
        self,
        model: str,
        *,
        base_url: str,
        api_key: str,
        client: httpx.Client,
        policy: RetryPolicy,
    ) -> None:
        super().__init__(client, policy)
        self.name = f"huggingface:{model}"
        self.url = f"{base_url.rstrip('/')}/models/{model}"
        self.headers = {"Authorization": f"Bearer {api_key}", "Content-Type": "image/png"}

    def mask(self, image: Image.Image) -> Mask:
        response = self._post(self.url, content=_png(image), headers=self.headers)
        if response.headers.get("content-type", "").startswith("image/"):
            return _mask_from_png(response.content, image.size, alpha=False)
        try:
            segments = response.json()
            if not isinstance(segments, list) or not all(isinstance(s, dict) for s in segments):
                raise TypeError("not a list of segments")
            encoded = max(segments, key=lambda s: s.get("score") or 0)["mask"]
            data = base64.b64decode(encoded, validate=True)
        except (ValueError, KeyError, TypeError, binascii.Error, json.JSONDecodeError):
            raise EngineFailed(f"{self.name}: unexpected answer") from None
        return _mask_from_png(data, image.size, alpha=False)


class SegmindEngine(_RemoteEngine):
    """A background-removal model on Segmind's API (BiRefNet)."""

    def __init__(
        self,
        model: str,
        *,
        base_url: str,
        api_key: str,
        client: httpx.Client,
        policy: RetryPolicy,
    ) -> None:
        super().__init__(client, policy)
        self.name = f"segmind:{model}"
        self.url = f"{base_url.rstrip('/')}/{model}"
        self.headers = {"x-api-key": api_key}

    def mask(self, image: Image.Image) -> Mask:
        body = {"image": base64.b64encode(_png(image)).decode(), "base64": False}
        response = self._post(self.url, json=body, headers=self.headers)
        if not response.headers.get("content-type", "").startswith("image/"):
            raise EngineFailed(f"{self.name}: unexpected answer")
        return _mask_from_png(response.content, image.size, alpha=True)


class WithFallback:
    """Use the remote engine, and the local one when the remote stays unavailable."""

    def __init__(self, primary: SegmentationEngine, fallback: SegmentationEngine) -> None:
        self.primary = primary
        self.fallback = fallback
        self.name = f"{primary.name}|{fallback.name}"

    def mask(self, image: Image.Image) -> Mask:
        try:
            return self.primary.mask(image)
        except EngineUnavailable:
            return self.fallback.mask(image)
