"""The recipe table: presets, overrides, and every default recipe run on stand-in models."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageDraw

from services.engines.onnx_local import MODELS, Acceleration
from services.engines.registry import EngineCatalog
from services.imaging.compose import OutputOptions
from services.imaging.cutout import cut_out
from services.imaging.intake import IntakeLimits
from services.pricing import Tier
from services.recipes.ladder import LADDERS, Preset, TierPlan
from services.recipes.spec import InvalidRecipe, Recipe, Step
from services.settings import Settings
from tests.recipes import standins
from workers.cutout import engine_config


def _settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


def test_the_default_ladder_is_four_different_recipes():
    plans = _settings().tier_plans()

    assert len({str(plan.recipe) for plan in plans.values()}) == 4
    assert plans[Tier.BASIC].recipe == Recipe("isnet-general-use")
    assert Step.MATTING in plans[Tier.INDUSTRY].recipe.steps
    assert Step.GUIDED in plans[Tier.PROFESSIONAL].recipe.steps


def test_the_offline_preset_uses_only_the_shared_test_models():
    plans = _settings(tier_preset="offline").tier_plans()

    assert len({str(plan.recipe) for plan in plans.values()}) == 4
    shared = {"isnet-imgly-small", "isnet-imgly-medium", "selfie-segmentation"}
    assert {plan.recipe.engine for plan in plans.values()} <= shared


def test_engine_all_puts_every_tier_on_one_model_and_keeps_the_steps():
    plans = _settings(engine_all="u2netp").tier_plans()

    assert {plan.recipe.engine for plan in plans.values()} == {"u2netp"}
    assert len({plan.recipe.steps for plan in plans.values()}) == 4


def test_engine_of_a_tier_swaps_its_engine_and_a_recipe_replaces_it_whole():
    plans = _settings(
        engine_professional="u2net", recipe_industry="birefnet-portrait+guided@2048"
    ).tier_plans()

    assert plans[Tier.PROFESSIONAL].recipe == Recipe.parse(
        LADDERS[Preset.DEFAULT][Tier.PROFESSIONAL]
    ).with_engine("u2net")
    assert plans[Tier.INDUSTRY] == TierPlan(
        Recipe("birefnet-portrait", frozenset({Step.GUIDED}), 2048)
    )


def test_api_keys_send_tiers_to_their_remote_model_with_the_local_recipe_behind():
    plans = _settings(huggingface_api_key="hf", segmind_api_key="sm").tier_plans()

    assert plans[Tier.BASIC].recipe.engine == "huggingface:briaai/RMBG-1.4"
    assert plans[Tier.STANDARD].recipe.engine == "huggingface:briaai/RMBG-2.0"
    assert plans[Tier.INDUSTRY].recipe.engine.startswith("segmind:")
    for tier, plan in plans.items():
        assert plan.fallback == Recipe.parse(LADDERS[Preset.DEFAULT][tier])


@pytest.mark.parametrize("text", ["u2netp+sharpen", "+guided", "u2netp@12", "u2netp@big"])
def test_a_malformed_recipe_stops_the_start(text):
    with pytest.raises(InvalidRecipe):
        Recipe.parse(text)
    with pytest.raises(ValueError, match="RECIPE_"):
        _settings(recipe_basic=text)


def test_a_recipe_reads_back_as_it_was_written():
    recipe = Recipe.parse("birefnet-general+foreground+flip+matting@1536")

    assert str(recipe) == "birefnet-general+flip+matting+foreground@1536"
    assert Recipe.parse(str(recipe)) == recipe


STANDINS = {
    "isnet-general-use": standins.isnet,
    "birefnet-general-lite": standins.birefnet,
    "birefnet-general": standins.birefnet,
    "birefnet-portrait": standins.birefnet,
    "u2netp": standins.u2net,
}


@pytest.fixture(scope="module")
def standin_models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("models")
    for name, build in STANDINS.items():
        build(folder / MODELS[name].filename)
    return folder


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    """A bright disc on a dark backdrop, with a soft rim."""
    picture = Image.new("RGB", (160, 120), (30, 60, 40))
    ImageDraw.Draw(picture).ellipse((40, 20, 120, 100), fill=(240, 200, 160))
    picture = picture.resize((320, 240), Image.Resampling.LANCZOS).resize((160, 120))
    path = tmp_path_factory.mktemp("photos") / "disc.png"
    picture.save(path)
    return path


@pytest.mark.parametrize("tier", list(Tier))
def test_every_default_recipe_runs_on_stand_in_models(standin_models, photo, tier):
    settings = _settings(models_dir=standin_models, onnx_threads=1, onnx_acceleration="cpu")
    catalog = EngineCatalog(engine_config(settings))
    assert catalog.available_tiers() == frozenset(Tier)

    result = cut_out(photo, catalog.for_tier(tier), OutputOptions(), IntakeLimits())

    cutout = Image.open(io.BytesIO(result))
    alpha = np.asarray(cutout.getchannel("A"), np.float32) / 255
    assert cutout.size == (160, 120)
    assert alpha[60, 80] > 0.95 and alpha[5, 5] < 0.05  # the disc kept, the backdrop gone


def test_a_remote_tier_without_its_key_runs_its_local_recipe(standin_models):
    settings = _settings(
        models_dir=standin_models,
        onnx_acceleration="cpu",
        engine_industry="segmind:birefnet-portrait",
    )
    catalog = EngineCatalog(engine_config(settings))

    engine = catalog.for_tier(Tier.INDUSTRY)

    assert engine.name == LADDERS[Preset.DEFAULT][Tier.INDUSTRY]


def test_models_download_lists_every_model_of_the_configured_tiers():
    from bot.cli.models import configured_models

    assert configured_models(_settings()) == [
        "birefnet-general",
        "birefnet-general-lite",
        "isnet-general-use",
    ]
    assert configured_models(_settings(engine_all="u2netp")) == ["u2netp"]


def test_a_tier_whose_model_is_missing_is_not_available(standin_models, tmp_path):
    (tmp_path / MODELS["isnet-general-use"].filename).write_bytes(
        (standin_models / MODELS["isnet-general-use"].filename).read_bytes()
    )
    settings = _settings(models_dir=tmp_path)

    assert settings.available_tiers() == frozenset({Tier.BASIC})
    missing = settings.tiers_missing_models()
    assert missing[Tier.INDUSTRY] == ["birefnet-general"]
    assert missing[Tier.STANDARD] == ["birefnet-general-lite"]
    assert _settings(models_dir=tmp_path, engine_all="isnet-general-use").available_tiers() == (
        frozenset(Tier)
    )


def test_acceleration_stays_on_the_cpu_for_a_model_openvino_cannot_load(standin_models):
    settings = _settings(models_dir=standin_models, onnx_acceleration="openvino")
    catalog = EngineCatalog(engine_config(settings))

    assert catalog.local("isnet-imgly-small").acceleration is Acceleration.CPU
