"""From image and mask to the delivered file: alpha, background, framing, formats, parts."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
from PIL import Image

from services.imaging.compose import (
    InvalidOptions,
    OutputOptions,
    compose,
    encode,
    parse_colour,
)
from services.imaging.package import Failure, result_name, unique_names, zip_parts

SIZE = (200, 100)
SUBJECT = (80, 30, 120, 70)  # left, top, right, bottom of the opaque subject


def _scene() -> tuple[Image.Image, np.ndarray]:
    image = Image.new("RGB", SIZE, (0, 200, 0))
    mask = np.zeros((SIZE[1], SIZE[0]), np.float32)
    left, top, right, bottom = SUBJECT
    mask[top:bottom, left:right] = 1.0
    mask[top:bottom, right] = 0.5  # a soft edge
    return image, mask


def _decode(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data))


def test_default_output_is_a_png_with_alpha_at_the_inputs_size_and_soft_edges_kept():
    image, mask = _scene()

    result = _decode(encode(compose(image, mask, OutputOptions()), OutputOptions()))

    assert result.format == "PNG"
    assert result.mode == "RGBA"
    assert result.size == SIZE
    alpha = result.getchannel("A")
    assert alpha.getpixel((100, 50)) == 255
    assert alpha.getpixel((5, 5)) == 0
    assert alpha.getpixel((SUBJECT[2], 50)) == 128


def test_a_background_colour_fills_behind_the_subject():
    image, mask = _scene()

    result = compose(image, mask, OutputOptions(background="#ff0000"))

    assert result.mode == "RGB"
    assert result.getpixel((5, 5)) == (255, 0, 0)
    assert result.getpixel((100, 50)) == (0, 200, 0)


def test_crop_keeps_the_subject_with_its_margin():
    image, mask = _scene()

    result = compose(image, mask, OutputOptions(crop=True, margin=0.1))

    # The subject is 41 x 40 (soft edge column included); the margin is 10% of 41, on each side.
    assert result.size == (41 + 2 * 4, 40 + 2 * 4)


def test_square_centres_the_result_on_a_transparent_square():
    image, mask = _scene()

    result = compose(image, mask, OutputOptions(square=True))

    assert result.size == (200, 200)
    assert result.getchannel("A").getpixel((100, 10)) == 0
    assert result.getchannel("A").getpixel((100, 100)) == 255


def test_marketplace_preset_is_white_square_at_least_1000px_with_the_subject_filling_85_percent():
    image, mask = _scene()
    mask[mask < 1] = 0  # hard edges, so the subject's extent is exact
    options = OutputOptions(marketplace=True, format="jpeg")

    result = _decode(encode(compose(image, mask, options), options))

    assert result.format == "JPEG"
    assert result.size == (1000, 1000)
    pixels = np.asarray(result.convert("RGB")).astype(int)
    assert (pixels[5, 5] >= 250).all()  # pure white corners
    subject = np.argwhere(np.abs(pixels - [0, 200, 0]).sum(axis=2) < 60)
    extent = subject.max(axis=0) - subject.min(axis=0) + 1
    assert max(extent) / 1000 == pytest.approx(0.85, abs=0.02)


def test_marketplace_keeps_a_large_subject_at_its_own_resolution():
    image = Image.new("RGB", (3000, 2000), (0, 0, 255))
    mask = np.ones((2000, 3000), np.float32)

    result = compose(image, mask, OutputOptions(marketplace=True))

    assert result.size == (round(3000 / 0.85), round(3000 / 0.85))


@pytest.mark.parametrize("fmt", ["jpeg", "webp"])
def test_jpeg_and_webp_are_written_when_the_background_is_opaque(fmt):
    image, mask = _scene()
    options = OutputOptions(background="white", format=fmt)

    result = _decode(encode(compose(image, mask, options), options))

    assert result.format == fmt.upper()
    assert result.mode == "RGB"
    assert result.size == SIZE
    assert options.extension == {"jpeg": ".jpg", "webp": ".webp"}[fmt]


@pytest.mark.parametrize("fmt", ["jpeg", "webp"])
def test_jpeg_and_webp_without_a_background_are_refused(fmt):
    with pytest.raises(InvalidOptions):
        OutputOptions(format=fmt)


@pytest.mark.parametrize(
    "values",
    [{"format": "gif"}, {"background": "sky blue"}, {"margin": 2.0}],
)
def test_malformed_options_are_refused(values):
    with pytest.raises(InvalidOptions):
        OutputOptions(**values)


def test_colours_are_read_by_name_or_hex():
    assert parse_colour("white") == (255, 255, 255)
    assert parse_colour("#00FF7f") == (0, 255, 127)
    assert parse_colour("102030") == (16, 32, 48)


def test_stored_options_round_trip_and_ignore_unknown_keys():
    options = OutputOptions(background="#112233", crop=True, square=True)

    assert OutputOptions.from_dict({**options.to_dict(), "retired": 1}) == options


def test_result_names_come_from_the_inputs_and_stay_distinct():
    inputs = ["shoe.jpg", "dir/shoe.webp", "Shoe.PNG", ".jpg", "..."]
    names = [result_name(name, ".png") for name in inputs]

    expected = ["shoe.png", "shoe (2).png", "Shoe (3).png", "jpg.png", "image.png"]
    assert unique_names(names) == expected


def test_zip_parts_stay_under_the_part_size_and_carry_the_failure_summary(tmp_path):
    files = []
    for number in range(5):
        path = tmp_path / f"{number}.png"
        path.write_bytes(bytes([number]) * 40_000)
        files.append((path, f"result {number}.png"))

    parts = zip_parts(
        files,
        [Failure("broken.jpg", "truncated")],
        tmp_path / "out",
        stem="cutouts",
        part_bytes=100_000,
    )

    assert [part.name for part in parts] == [
        "cutouts-part1.zip",
        "cutouts-part2.zip",
        "cutouts-part3.zip",
    ]
    assert all(part.stat().st_size <= 100_000 for part in parts)
    names = [name for part in parts for name in zipfile.ZipFile(part).namelist()]
    assert names.count("not-processed.txt") == 1
    assert zipfile.ZipFile(parts[-1]).read("not-processed.txt") == b"broken.jpg\ttruncated\n"
    assert sorted(n for n in names if n.endswith(".png")) == [f"result {n}.png" for n in range(5)]


def test_a_small_batch_is_one_zip(tmp_path):
    path = tmp_path / "a.png"
    path.write_bytes(b"x" * 100)

    parts = zip_parts([(path, "a.png")], [], tmp_path / "out", stem="cutouts", part_bytes=49 << 20)

    assert [part.name for part in parts] == ["cutouts.zip"]
    assert zipfile.ZipFile(parts[0]).namelist() == ["a.png"]


def test_the_old_background_does_not_stay_hidden_under_transparent_pixels():
    image, mask = _scene()

    result = compose(image, mask, OutputOptions())

    assert result.getpixel((5, 5)) == (0, 0, 0, 0)
    assert result.getpixel((100, 50)) == (0, 200, 0, 255)
    assert result.getpixel((SUBJECT[2], 50)) == (0, 200, 0, 128)  # soft edges keep colour
