"""Which tiers can run on this install: a quote offers only those, so no one pays for a job
that can only fail. A file check per tier, cheap enough to ask at every quote."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from services.engines.onnx_local import MODELS
from services.pricing import Tier
from services.recipes.ladder import TierPlan, is_remote


def missing_models(plan: TierPlan, models_dir: Path, remote_keys: frozenset[str]) -> list[str]:
    """The local models `plan` needs that are not in `models_dir`.

    A remote engine whose key is set needs none: its local fallback only serves outages.
    """
    if is_remote(plan.recipe.engine) and plan.recipe.engine.partition(":")[0] in remote_keys:
        return []
    recipe = plan.local_recipe
    if recipe is None or recipe.engine not in MODELS:
        return []
    present = (models_dir / MODELS[recipe.engine].filename).is_file()
    return [] if present else [recipe.engine]


def tiers_missing_models(
    plans: Mapping[Tier, TierPlan], models_dir: Path, remote_keys: frozenset[str]
) -> dict[Tier, list[str]]:
    """Each tier that cannot run, with the models it lacks."""
    missing = {tier: missing_models(plan, models_dir, remote_keys) for tier, plan in plans.items()}
    return {tier: names for tier, names in missing.items() if names}


def available_tiers(
    plans: Mapping[Tier, TierPlan], models_dir: Path, remote_keys: frozenset[str]
) -> frozenset[Tier]:
    """The tiers whose recipe can run now."""
    return frozenset(plans) - frozenset(tiers_missing_models(plans, models_dir, remote_keys))


def download_command(models: list[str]) -> str:
    """The command that fetches `models` (or all the configured tiers need)."""
    return "bgbot models download " + " ".join(models) if models else "bgbot models download"
