"""`bgbot remove`: files and ZIPs in, one PNG per image out, progress and refusals printed."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from bot.cli import cli
from tests.engines.conftest import MODELS_DIR, needs_model

pytestmark = needs_model("selfie_segmentation.onnx")


def _env(tmp_path: Path, models_dir: Path = MODELS_DIR) -> dict[str, str]:
    return {
        "BGBOT_ENV_FILE": str(tmp_path / "no.env"),
        "DATA_DIR": str(tmp_path / "data"),
        "MODELS_DIR": str(models_dir),
        "ENGINE_BASIC": "selfie-segmentation",
        "FALLBACK_ENGINE": "selfie-segmentation",
        "ONNX_THREADS": "1",
    }


def _jpeg(path: Path, size: tuple[int, int] = (96, 64), colour: str = "orange") -> Path:
    Image.new("RGB", size, colour).save(path, quality=90)
    return path


def _png_bytes(colour: str) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (80, 80), colour).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture
def inputs(tmp_path: Path) -> list[Path]:
    photo = _jpeg(tmp_path / "shoe.jpg")
    archive = tmp_path / "batch.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("red/shoe.png", _png_bytes("red"))
        bundle.writestr("blue/bag.png", _png_bytes("blue"))
        bundle.writestr("../escape.png", _png_bytes("green"))
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a picture at all")
    fake = tmp_path / "fake.zip"
    fake.write_bytes(b"PK, or so it says")
    return [photo, archive, broken, fake]


def test_remove_writes_one_png_per_image_with_names_from_the_inputs(tmp_path, inputs):
    out = tmp_path / "out"

    result = CliRunner().invoke(
        cli, ["remove", *map(str, inputs), "--out", str(out)], env=_env(tmp_path)
    )

    assert sorted(p.name for p in out.iterdir()) == ["bag.png", "shoe (2).png", "shoe.png"]
    shoe = Image.open(out / "shoe.png")
    assert (shoe.format, shoe.mode, shoe.size) == ("PNG", "RGBA", (96, 64))
    assert "[1/4] shoe.jpg -> " in result.output
    assert "[2/4] red/shoe.png -> " in result.output
    assert "skipped batch.zip/../escape.png: path_traversal" in result.output
    assert "skipped fake.zip: not_a_zip" in result.output
    assert "[4/4] broken.jpg: refused (not_an_image)" in result.output
    assert "3 written to" in result.output
    assert "3 not processed" in result.output
    assert result.exit_code == 1  # something was not processed


def test_remove_applies_background_crop_and_square(tmp_path):
    photo = _jpeg(tmp_path / "photo.jpg", (120, 60))
    out = tmp_path / "out"

    result = CliRunner().invoke(
        cli,
        [
            *("remove", str(photo), "--out", str(out)),
            *("--model", "selfie-segmentation", "--bg", "#102030", "--square"),
        ],
        env=_env(tmp_path),
    )

    assert result.exit_code == 0, result.output
    made = Image.open(out / "photo.png")
    assert (made.mode, made.size) == ("RGB", (120, 120))
    assert made.getpixel((0, 0)) == (16, 32, 48)  # the square's padding takes the colour


def test_remove_refuses_a_bad_colour_and_an_unknown_model(tmp_path):
    photo = _jpeg(tmp_path / "photo.jpg")
    runner = CliRunner()
    base = ["remove", str(photo), "--out", str(tmp_path / "out")]

    bad_colour = runner.invoke(cli, [*base, "--bg", "sky"], env=_env(tmp_path))
    unknown = runner.invoke(cli, [*base, "--model", "u3net"], env=_env(tmp_path))
    both = runner.invoke(cli, [*base, "--model", "u2netp", "--tier", "basic"], env=_env(tmp_path))

    assert bad_colour.exit_code == 2
    assert "not a colour" in bad_colour.output
    assert unknown.exit_code == 2
    assert "unknown engine 'u3net'" in unknown.output
    assert both.exit_code == 2


def test_remove_with_a_missing_model_names_the_file_and_the_command(tmp_path):
    photo = _jpeg(tmp_path / "photo.jpg")

    result = CliRunner().invoke(
        cli,
        ["remove", str(photo), "--out", str(tmp_path / "out"), "--model", "u2netp"],
        env=_env(tmp_path, models_dir=tmp_path / "models"),
    )

    assert result.exit_code == 1
    assert str(tmp_path / "models" / "u2netp.onnx") in result.output
    assert "bgbot models download u2netp" in result.output
