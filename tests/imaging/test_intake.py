"""Decoding inputs (formats, orientation, modes) and refusing unusable ones from their header."""

from __future__ import annotations

import io
import struct
import tracemalloc
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from services.imaging.intake import ImageRejected, IntakeLimits, load_image, probe_image

LIMITS = IntakeLimits()


def _noise(size: tuple[int, int] = (120, 80), mode: str = "RGB") -> Image.Image:
    rng = np.random.default_rng(7)
    channels = len(mode)
    pixels = rng.integers(0, 256, (size[1], size[0], channels), dtype=np.uint8)
    return Image.fromarray(pixels.squeeze(), mode)


def _save(tmp_path: Path, name: str, image: Image.Image, **params: Any) -> Path:
    path = tmp_path / name
    image.save(path, **params)
    return path


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("photo.jpg", {}),
        ("photo.png", {}),
        ("photo.webp", {"lossless": True}),
        ("photo.bmp", {}),
        ("photo.tiff", {}),
        ("photo.gif", {}),
    ],
)
def test_common_formats_decode_to_rgb_at_their_own_size(tmp_path, name, params):
    path = _save(tmp_path, name, _noise(), **params)

    image = load_image(path, LIMITS)

    assert image.mode == "RGB"
    assert image.size == (120, 80)


def test_heic_decodes_through_pillow_heif(tmp_path):
    pillow_heif = pytest.importorskip("pillow_heif")
    if not pillow_heif.libheif_info().get("HEIF"):
        pytest.skip("this libheif build has no HEIF encoder to make a test file")
    pillow_heif.register_heif_opener()
    path = _save(tmp_path, "photo.heic", _noise((128, 96)), quality=90)

    image = load_image(path, LIMITS)

    assert image.mode == "RGB"
    assert image.size == (128, 96)


@pytest.mark.parametrize("suffix", [".gif", ".webp"])
def test_an_animation_yields_its_first_frame(tmp_path, suffix):
    frames = [Image.new("RGB", (64, 64), colour) for colour in ("red", "lime", "blue")]
    path = tmp_path / f"animated{suffix}"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, lossless=True)

    image = load_image(path, LIMITS)

    assert image.getpixel((32, 32)) == (255, 0, 0)


@pytest.mark.parametrize(
    ("orientation", "size"), [(1, (60, 40)), (3, (60, 40)), (6, (40, 60)), (8, (40, 60))]
)
def test_exif_orientation_is_applied(tmp_path, orientation, size):
    stored = Image.new("RGB", (60, 40), (0, 0, 255))
    stored.paste((255, 0, 0), (0, 0, 20, 20))  # a red patch at the stored top left
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = _save(tmp_path, "turned.jpg", stored, exif=exif, quality=95)

    image = load_image(path, LIMITS)

    assert image.size == size
    red = np.argwhere(np.asarray(image)[:, :, 0] > 200)
    corner = (red.mean(axis=0) < np.array(size[::-1]) / 2).tolist()
    expected_corner = {1: [True, True], 3: [False, False], 6: [True, False], 8: [False, True]}
    assert corner == expected_corner[orientation]


def test_cmyk_jpeg_becomes_rgb_with_its_colours(tmp_path):
    path = _save(tmp_path, "print.jpg", Image.new("CMYK", (40, 40), (0, 255, 255, 0)), quality=95)

    pixel = load_image(path, LIMITS).getpixel((20, 20))

    assert isinstance(pixel, tuple)
    red, green, blue = pixel[:3]

    assert red > 230
    assert green < 30
    assert blue < 30


def test_sixteen_bit_greyscale_is_scaled_not_clipped(tmp_path):
    pixels = np.full((40, 40), 32768, dtype=np.uint16)
    pixels[:, 20:] = 65535
    path = _save(tmp_path, "deep.png", Image.fromarray(pixels))

    image = load_image(path, LIMITS)

    assert image.mode == "RGB"
    assert image.getpixel((5, 5)) == (128, 128, 128)
    assert image.getpixel((30, 5)) == (255, 255, 255)


def test_palette_and_greyscale_images_become_rgb(tmp_path):
    palette = _save(tmp_path, "palette.png", _noise().convert("P"))
    grey = _save(tmp_path, "grey.png", Image.new("L", (40, 40), 77))

    assert load_image(palette, LIMITS).mode == "RGB"
    assert load_image(grey, LIMITS).getpixel((1, 1)) == (77, 77, 77)


@pytest.mark.parametrize("mode", ["RGBA", "LA", "P"])
def test_an_inputs_own_transparency_is_flattened_on_white(tmp_path, mode):
    cutout = Image.new("RGBA", (40, 40), (0, 0, 0, 0))
    cutout.paste((10, 20, 200, 255), (0, 0, 20, 40))
    if mode == "LA":
        cutout = cutout.convert("LA")
    path = tmp_path / "cutout.png"
    if mode == "P":
        cutout.convert("P", palette=Image.Palette.ADAPTIVE).save(path, transparency=0)
        cutout = Image.open(path)
    cutout.save(path)

    image = load_image(path, LIMITS)

    assert image.mode == "RGB"
    assert image.getpixel((30, 20)) == (255, 255, 255)


def test_a_file_that_is_not_an_image_is_refused(tmp_path):
    path = tmp_path / "notes.jpg"
    path.write_text("shopping list: shoes, bags\n" * 20)

    with pytest.raises(ImageRejected) as refused:
        load_image(path, LIMITS)
    assert refused.value.code == "not_an_image"


def test_an_image_format_people_do_not_send_is_refused(tmp_path):
    path = _save(tmp_path, "icon.ico", _noise((48, 48)))

    with pytest.raises(ImageRejected) as refused:
        probe_image(path, LIMITS)
    assert refused.value.code == "not_an_image"


def test_a_truncated_jpeg_is_refused(tmp_path):
    whole = _save(tmp_path, "whole.jpg", _noise((400, 300)), quality=90).read_bytes()
    path = tmp_path / "cut.jpg"
    path.write_bytes(whole[: len(whole) * 2 // 3])

    with pytest.raises(ImageRejected) as refused:
        load_image(path, LIMITS)
    assert refused.value.code == "truncated"


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _bomb_png(width: int, height: int) -> bytes:
    """A PNG that declares width x height pixels; its data is a few rows of a bomb."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    rows = zlib.compress(b"\0" * (width + 1) * 16, 9)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", rows)
        + _png_chunk(b"IEND", b"")
    )


@pytest.mark.parametrize("limits", [LIMITS, IntakeLimits(max_pixels=10**12)])
def test_a_decompression_bomb_is_refused_from_its_header(tmp_path, limits):
    # Refused by our limit, and by Pillow's own bomb guard when ours is set sky high.
    path = tmp_path / "bomb.png"
    path.write_bytes(_bomb_png(20000, 20000))

    tracemalloc.start()
    try:
        with pytest.raises(ImageRejected) as refused:
            load_image(path, limits)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert refused.value.code == "too_many_pixels"
    assert peak < 5 * 2**20  # 400 MB of pixels were never allocated


def test_an_image_under_the_minimum_size_is_refused(tmp_path):
    path = _save(tmp_path, "thumb.png", _noise((31, 200)))

    with pytest.raises(ImageRejected) as refused:
        load_image(path, LIMITS)
    assert refused.value.code == "too_small"


def test_a_file_over_the_size_limit_is_refused_without_reading_it(tmp_path):
    path = tmp_path / "huge.jpg"
    with path.open("wb") as sparse:
        sparse.truncate(LIMITS.max_file_bytes + 1)  # a hole: no byte of it is ever stored

    with pytest.raises(ImageRejected) as refused:
        load_image(path, LIMITS)
    assert refused.value.code == "file_too_large"


def test_probe_reads_only_the_header(tmp_path):
    data = io.BytesIO()
    _noise((300, 200)).save(data, "PNG")
    path = tmp_path / "photo.png"
    path.write_bytes(data.getvalue()[:200])  # the header and a sliver of the pixels

    info = probe_image(path, LIMITS)

    assert (info.format, info.width, info.height) == ("PNG", 300, 200)
