"""Decoding and checking one input image: formats, EXIF orientation, modes, and refusals.

Sizes are checked from the file and its header before any pixel is decoded, so neither a huge
file nor a decompression bomb is read into memory.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

from services.errors import ServiceError

# Formats accepted from people; anything else Pillow can open is refused as not an image.
ACCEPTED_FORMATS = frozenset({"JPEG", "PNG", "WEBP", "HEIF", "BMP", "TIFF", "GIF", "MPO"})


class ImageRejected(ServiceError):
    """An input that cannot become a cutout; `code` says why, for the person's language."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code


@dataclass(frozen=True, slots=True)
class IntakeLimits:
    max_file_bytes: int = 50 * 2**20
    max_pixels: int = 40_000_000
    min_side: int = 32


@cache
def enable_heif() -> None:
    """Teach Pillow to open HEIC/HEIF files (once per process)."""
    from pillow_heif import register_heif_opener

    register_heif_opener()


@dataclass(frozen=True, slots=True)
class ImageInfo:
    format: str
    width: int
    height: int


def probe_image(path: Path, limits: IntakeLimits) -> ImageInfo:
    """Check an input from its size on disk and its header alone.

    Raises:
        ImageRejected: not an image, too large a file, too many pixels, or too small.
    """
    enable_heif()
    size = path.stat().st_size
    if size > limits.max_file_bytes:
        raise ImageRejected("file_too_large", f"{size} bytes, the limit is {limits.max_file_bytes}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                info = ImageInfo(str(image.format), image.width, image.height)
    except Image.DecompressionBombError as error:
        raise ImageRejected("too_many_pixels", str(error)) from None
    except (UnidentifiedImageError, SyntaxError, ValueError) as error:
        raise ImageRejected("not_an_image", f"not a readable image: {error}") from None
    except OSError as error:
        raise ImageRejected("corrupt", f"unreadable image: {error}") from None
    if info.format not in ACCEPTED_FORMATS:
        raise ImageRejected("not_an_image", f"unsupported format {info.format}")
    if info.width * info.height > limits.max_pixels:
        raise ImageRejected(
            "too_many_pixels", f"{info.width}x{info.height} exceeds {limits.max_pixels} pixels"
        )
    if min(info.width, info.height) < limits.min_side:
        raise ImageRejected("too_small", f"{info.width}x{info.height} is under {limits.min_side}")
    return info


def _to_rgb(image: Image.Image) -> Image.Image:
    """Convert any mode to 8-bit RGB; an input's own transparency becomes white."""
    if image.mode in {"I;16", "I;16B", "I;16L", "I"}:
        # 16-bit greyscale: scale to 8 bits rather than clipping at 255.
        scale = 1 / 256 if image.mode.startswith("I;16") else 1 / 65536
        image = image.point(lambda value: value * scale).convert("L")
    if image.mode == "CMYK":
        image = image.convert("RGB")
    if image.mode == "P":
        image = image.convert("RGBA")
    if image.mode in {"LA", "PA"}:
        image = image.convert("RGBA")
    if image.mode == "RGBA":
        # The input's own alpha must not leak into the cutout: flatten it first.
        flat = Image.new("RGB", image.size, (255, 255, 255))
        flat.paste(image, mask=image.getchannel("A"))
        return flat
    return image if image.mode == "RGB" else image.convert("RGB")


def load_image(path: Path, limits: IntakeLimits) -> Image.Image:
    """Decode an input to RGB, upright as its EXIF orientation says, first frame only.

    Raises:
        ImageRejected: for every refusal of `probe_image`, and for truncated or corrupt data.
    """
    probe_image(path, limits)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            # Opened from a file object, not the path: closing the file afterwards keeps the
            # decoded image usable, where closing an Image would void it and force a copy of
            # every pixel (36 MB for a 12 MP photo), as would a transpose of an upright one.
            with path.open("rb") as file:
                image = Image.open(file)
                image.seek(0)
                image.load()
                ImageOps.exif_transpose(image, in_place=True)
                return _to_rgb(image)
    except OSError as error:
        code = "truncated" if "truncated" in str(error).lower() else "corrupt"
        raise ImageRejected(code, f"cannot decode: {error}") from None
    except (SyntaxError, ValueError, Image.DecompressionBombError) as error:
        raise ImageRejected("corrupt", f"cannot decode: {error}") from None
