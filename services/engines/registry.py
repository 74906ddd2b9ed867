"""The engine registry: engine names to engines and tiers to recipes, failing loudly on a name
it does not know."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from services.engines.base import SegmentationEngine
from services.engines.onnx_local import MODELS, Acceleration, OnnxEngine
from services.engines.remote import HuggingFaceEngine, RetryPolicy, SegmindEngine, WithFallback
from services.pricing import Tier
from services.recipes.availability import missing_models
from services.recipes.ladder import TierPlan, is_remote
from services.recipes.runner import RecipeEngine
from services.recipes.spec import Recipe

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
    # Each tier's recipe (see services/recipes/ladder.py); where absent, the tier runs its
    # engine of `tier_engines` alone, with `fallback` behind a remote one.
    tier_plans: Mapping[Tier, TierPlan] = field(default_factory=dict)

    def plan(self, tier: Tier) -> TierPlan:
        if tier in self.tier_plans:
            return self.tier_plans[tier]
        engine = self.tier_engines[tier]
        return TierPlan(Recipe(engine), Recipe(self.fallback) if is_remote(engine) else None)


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
        self.plans = {tier: config.plan(tier) for tier in Tier}
        for plan in self.plans.values():
            check_engine_name(plan.recipe.engine)
            if plan.fallback is not None and plan.fallback.engine not in MODELS:
                raise UnknownEngine(
                    f"the fallback engine must be a local model, not {plan.fallback.engine}"
                )
        for name in (*config.tier_engines.values(), config.fallback):
            check_engine_name(name)
        if config.fallback not in MODELS:
            raise UnknownEngine(f"the fallback engine must be a local model, not {config.fallback}")
        self.config = config
        self._engines: dict[str, SegmentationEngine] = {}
        self._recipes: dict[tuple[str, str], RecipeEngine] = {}
        self._client: httpx.Client | None = None

    def local(self, name: str) -> OnnxEngine:
        config = self.config
        spec = MODELS[name]
        acceleration = config.acceleration if spec.openvino else Acceleration.CPU
        return OnnxEngine(
            spec, config.models_dir, config.threads, acceleration, cache_dirs=config.cache_dirs
        )

    def for_tier(self, tier: Tier) -> RecipeEngine:
        """The recipe serving `tier`: `.mask(image)` for the alpha, `.matte(image)` for more."""
        plan = self.plans[tier]
        key = (str(plan.recipe), str(plan.fallback))
        if key not in self._recipes:
            self._recipes[key] = self._recipe_engine(plan)
        return self._recipes[key]

    def _recipe_engine(self, plan: TierPlan) -> RecipeEngine:
        fallback = (
            None
            if plan.fallback is None
            else RecipeEngine(plan.fallback, self.named(plan.fallback.engine))
        )
        if fallback is not None and not self._has_key(plan.recipe.engine):
            log.warning("%s has no API key; serving its tier with %s", plan.recipe, fallback.name)
            return fallback
        primary = self.remote(plan.recipe.engine) if fallback else self.named(plan.recipe.engine)
        return RecipeEngine(plan.recipe, primary, fallback)

    def _has_key(self, engine: str) -> bool:
        return engine.partition(":")[0] in self.remote_keys()

    def remote_keys(self) -> frozenset[str]:
        keys = {"huggingface": self.config.huggingface_key, "segmind": self.config.segmind_key}
        return frozenset(provider for provider, key in keys.items() if key)

    def missing_models(self, tier: Tier) -> list[str]:
        """The local models `tier` needs to run that are not in MODELS_DIR."""
        return missing_models(self.plans[tier], self.config.models_dir, self.remote_keys())

    def available_tiers(self) -> frozenset[Tier]:
        """The tiers whose engine can run now; a quote offers only these."""
        return frozenset(tier for tier in Tier if not self.missing_models(tier))

    def named(self, name: str) -> SegmentationEngine:
        """The engine called `name`, made once.

        Raises:
            UnknownEngine: `name` is neither a local model nor a remote provider's model.
        """
        check_engine_name(name)
        if name not in self._engines:
            self._engines[name] = self._build(name)
        return self._engines[name]

    def model_names(self) -> list[str]:
        """The local models the configured tiers' recipes and fallbacks need."""
        names: set[str] = set()
        for plan in self.plans.values():
            names.update(
                recipe.engine
                for recipe in (plan.recipe, plan.fallback)
                if recipe is not None and recipe.engine in MODELS
            )
        return sorted(names)

    def model_files(self) -> list[Path]:
        """The local model files the configured tiers need."""
        return sorted({self.local(name).path for name in self.model_names()})

    def _build(self, name: str) -> SegmentationEngine:
        if name in MODELS:
            return self.local(name)
        config = self.config
        provider, _, model = name.partition(":")
        key = config.huggingface_key if provider == "huggingface" else config.segmind_key
        fallback = self.local(config.fallback)
        if not key:
            log.warning("%s has no API key; serving it with %s", name, config.fallback)
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

    def remote(self, name: str) -> SegmentationEngine:
        """The remote engine `name` on its own, with no fallback (the recipe has its own)."""
        engine = self.named(name)
        return engine.primary if isinstance(engine, WithFallback) else engine
