"""The workers' cutter: results named by position, failures sorted into permanent and transient."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from services.pipeline import JobWork
from services.pricing import Tier
from services.settings import Settings
from tests.engines.conftest import MODELS_DIR, needs_model
from workers.actors import PermanentFailure, TransientFailure
from workers.cutout import cut_out_job


def _settings(tmp_path: Path, models_dir: Path = MODELS_DIR) -> Settings:
    return Settings(
        _env_file=None,
        data_dir=tmp_path,
        models_dir=models_dir,
        engine_basic="selfie-segmentation",
        fallback_engine="selfie-segmentation",
        onnx_threads=1,
    )


def _work(options: dict[str, Any] | None = None) -> JobWork:
    return JobWork(
        job_id=1,
        batch_id=1,
        position=7,
        input_name="shoe.jpg",
        input_path="inputs/shoe.jpg",
        tier=Tier.BASIC,
        options=options or {},
        attempts=0,
        priority=False,
    )


def _photo(tmp_path: Path) -> Path:
    path = tmp_path / "shoe.jpg"
    Image.new("RGB", (80, 60), "orange").save(path)
    return path


@needs_model("selfie_segmentation.onnx")
def test_a_result_is_written_under_its_position_in_the_chosen_format(tmp_path):
    cutter = cut_out_job(_settings(tmp_path))
    options = {"background": "white", "format": "jpeg"}

    result = cutter(_work(options), _photo(tmp_path), tmp_path / "results")

    assert result == tmp_path / "results" / "0007.jpg"
    assert Image.open(result).size == (80, 60)


@needs_model("selfie_segmentation.onnx")
def test_an_unusable_image_fails_permanently_with_its_reason(tmp_path):
    source = tmp_path / "notes.jpg"
    source.write_text("not an image")

    with pytest.raises(PermanentFailure) as failed:
        cut_out_job(_settings(tmp_path))(_work(), source, tmp_path / "results")
    assert failed.value.code == "not_an_image"


def test_a_missing_model_is_transient_so_the_job_waits_for_the_file(tmp_path):
    cutter = cut_out_job(_settings(tmp_path, models_dir=tmp_path / "empty"))

    with pytest.raises(TransientFailure, match="bgbot models download selfie-segmentation"):
        cutter(_work(), _photo(tmp_path), tmp_path / "results")
