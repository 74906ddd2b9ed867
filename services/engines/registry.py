"""The engine registry: engine names to engines, failing loudly on a name it does not know."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import httpx

from services.engines.base import SegmentationEngine
from services.engines.onnx_local import MODELS, Acceleration, OnnxEngine
from services.engines.remote import HuggingFaceEngine, RetryPolicy, SegmindEngine, WithFallback
from services.pricing import Tier

log = logging.getLogger(__name__)

REMOTE_PROVIDERS = ("huggingface", "segmind")


class UnknownEngine(ValueError):
    """An engine name that is neither a local model nor a known remote provider."""


@dataclass(frozen=True, slots=True)
class EngineConfig:
    tier_engines: dict[Tier, str]
    fallback: str
    models_dir: Path
    threads: int
    huggingface_url: str
    huggingface_key: str | None
    segmind_url: str
    segmind_key: str | None
    retry: RetryPolicy
    acceleration: Acceleration = Acceleration.AUTO
    # Where AUTO's measured choice is kept when MODELS_DIR is read-only (DATA_DIR).
    cache_dirs: tuple[Path, ...] = ()


def check_engine_name(name: str) -> None:
    """Raise UnknownEngine unless `name` names a local model or a remote provider's model."""
    provider, _, model = name.partition(":")
    if name in MODELS or (provider in REMOTE_PROVIDERS and model):
        return
    raise UnknownEngine(
        f"unknown engine {name!r}: use one of {', '.join(sorted(MODELS))}, "
        "huggingface:<model> or segmind:<model>"
    )


class EngineCatalog:
    """The engines of one process, made on first use and kept (with their sessions)."""

    def __init__(self, config: EngineConfig) -> None:
        for name in (*config.tier_engines.values(), config.fallback):
            check_engine_name(name)
        if config.fallback not in MODELS:
            raise UnknownEngine(f"the fallback engine must be a local model, not {config.fallback}")
        self.config = config
        self._engines: dict[str, SegmentationEngine] = {}
        self._client: httpx.Client | None = None

    def local(self, name: str) -> OnnxEngine:
        config = self.config
        return OnnxEngine(
            MODELS[name],
            config.models_dir,
            config.threads,
            config.acceleration,
            cache_dirs=config.cache_dirs,
        )

    def for_tier(self, tier: Tier) -> SegmentationEngine:
        return self.named(self.config.tier_engines[tier])

    def named(self, name: str) -> SegmentationEngine:
        """The engine called `name`, made once.

        Raises:
            UnknownEngine: `name` is neither a local model nor a remote provider's model.
        """
        check_engine_name(name)
        if name not in self._engines:
            self._engines[name] = self._build(name)
        return self._engines[name]

    def model_files(self) -> list[Path]:
        """The local model files the configured tiers and the fallback need."""
        names = {*self.config.tier_engines.values(), self.config.fallback}
        return sorted({self.local(name).path for name in names if name in MODELS})

    def _build(self, name: str) -> SegmentationEngine:
        if name in MODELS:
            return self.local(name)
        config = self.config
        provider, _, model = name.partition(":")
        key = config.huggingface_key if provider == "huggingface" else config.segmind_key
        fallback = self.local(config.fallback)
        if not key:
            log.warning("%s has no API key; serving its tier with %s", name, config.fallback)
            return fallback
        self._client = self._client or httpx.Client()
        remote: SegmentationEngine
        if provider == "huggingface":
            remote = HuggingFaceEngine(
                model,
                base_url=config.huggingface_url,
                api_key=key,
                client=self._client,
                policy=config.retry,
            )
        else:
            remote = SegmindEngine(
                model,
                base_url=config.segmind_url,
                api_key=key,
                client=self._client,
                policy=config.retry,
            )
        return WithFallback(remote, fallback)
