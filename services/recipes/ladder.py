"""The recipe table: which recipe serves each tier, from a preset and the operator's overrides.

Pure data and one resolving function; the settings call it once at start.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from services.pricing import Tier
from services.recipes.spec import Recipe


class Preset(StrEnum):
    DEFAULT = "default"  # the models `bgbot models download` fetches, and remote APIs with keys
    OFFLINE = "offline"  # only the files of the shared test models folder (no download needed)


# Local ladders, fastest to best edges. The default one uses models that cannot be fetched on
# the development machines (no internet for weights); docs/engine.md says what was measured.
# `flip` is in neither: on matting-synth it raised the top tier's SAD from 26.1 to 29.8
# (glass came out more opaque), for a second inference.
LADDERS: dict[Preset, dict[Tier, str]] = {
    Preset.DEFAULT: {
        Tier.BASIC: "isnet-general-use",
        Tier.STANDARD: "birefnet-general-lite+foreground",
        Tier.PROFESSIONAL: "birefnet-general+guided+foreground",
        Tier.INDUSTRY: "birefnet-general+matting+foreground",
    },
    Preset.OFFLINE: {
        Tier.BASIC: "isnet-imgly-medium",
        Tier.STANDARD: "isnet-imgly-medium+foreground",
        Tier.PROFESSIONAL: "isnet-imgly-medium+guided+foreground",
        Tier.INDUSTRY: "isnet-imgly-medium+matting+foreground",
    },
}

# With an API key, the default preset sends a tier to the provider's model of its class, with
# the tier's own post-steps; the tier's local recipe serves it when the API stays down.
REMOTE_ENGINES: dict[Tier, str] = {
    Tier.BASIC: "huggingface:briaai/RMBG-1.4",
    Tier.STANDARD: "huggingface:briaai/RMBG-2.0",
    Tier.PROFESSIONAL: "segmind:birefnet-general",
    Tier.INDUSTRY: "segmind:birefnet-portrait",
}


def is_remote(engine: str) -> bool:
    return ":" in engine


@dataclass(frozen=True, slots=True)
class TierPlan:
    """A tier's recipe, and the local recipe that serves it when a remote engine cannot."""

    recipe: Recipe
    fallback: Recipe | None = None

    @property
    def local_recipe(self) -> Recipe | None:
        """The recipe that runs on this machine: the recipe itself, or its fallback."""
        return self.fallback if is_remote(self.recipe.engine) else self.recipe


@dataclass(frozen=True, slots=True)
class LadderChoices:
    """What the operator configured (None where unset)."""

    preset: Preset = Preset.DEFAULT
    engine_all: str | None = None
    engines: Mapping[Tier, str | None] = field(default_factory=dict)
    recipes: Mapping[Tier, str | None] = field(default_factory=dict)
    fallback_engine: str | None = None
    remote_keys: frozenset[str] = frozenset()  # providers with an API key


def resolve_ladder(choices: LadderChoices) -> dict[Tier, TierPlan]:
    """Each tier's plan: RECIPE_<TIER>, else ENGINE_<TIER> or ENGINE_ALL on the preset's steps.

    Raises:
        InvalidRecipe: a recipe override that does not parse.
    """
    engines = dict(choices.engines)
    recipes = dict(choices.recipes)
    plans = {}
    for tier in Tier:
        local = Recipe.parse(LADDERS[choices.preset][tier])
        if choices.engine_all:
            local = local.with_engine(choices.engine_all)
        chosen: Recipe | None = None
        if recipes.get(tier):
            chosen = Recipe.parse(recipes[tier] or "")
        elif engines.get(tier):
            chosen = local.with_engine(engines[tier] or "")
        elif choices.preset is Preset.DEFAULT and not choices.engine_all:
            remote = REMOTE_ENGINES[tier]
            if remote.partition(":")[0] in choices.remote_keys:
                chosen = local.with_engine(remote)
        if chosen is None or not is_remote(chosen.engine):
            plans[tier] = TierPlan(chosen or local)
            continue
        fallback = local.with_engine(choices.fallback_engine) if choices.fallback_engine else local
        if is_remote(fallback.engine):
            fallback = Recipe.parse(LADDERS[choices.preset][tier])
        plans[tier] = TierPlan(chosen, fallback)
    return plans
