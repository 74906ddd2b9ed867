"""From an image and its mask to the file a person receives: background, framing, format."""

from __future__ import annotations

import io
import re
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np
from PIL import Image

from services.engines.base import Mask

FORMATS = ("png", "jpeg", "webp")
# zlib level for PNG results, from bench/stages.py (docs/measured.md): on a 12 MP cutout
# level 1 takes 0.5 CPU s against 1.2-1.5 s at level 6, for files about 20% larger; on the
# 0.5 MP composites 0.02 s against 0.04 s, 12% larger.
PNG_LEVEL = 1
MARKETPLACE_MIN_SIDE = 1000
MARKETPLACE_FILL = 0.85
_COLOUR = re.compile(r"#?([0-9a-fA-F]{6})")
_NAMED = {"white": "#ffffff", "black": "#000000"}


class InvalidOptions(ValueError):
    """Output options that cannot be honoured together, or a malformed value."""


def parse_colour(text: str) -> tuple[int, int, int]:
    """Read `white`, `black` or `#RRGGBB`.

    Raises:
        InvalidOptions: for anything else.
    """
    match = _COLOUR.fullmatch(_NAMED.get(text.lower(), text))
    if match is None:
        raise InvalidOptions(f"not a colour: {text!r} (use white or #RRGGBB)")
    value = match.group(1)
    return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)


@dataclass(frozen=True, slots=True)
class OutputOptions:
    """How a person wants results: stored per account as a plain dict."""

    background: str | None = None  # None: transparent
    crop: bool = False
    margin: float = 0.05  # of the subject's larger side, when cropping
    square: bool = False
    marketplace: bool = False  # white, square, subject ~85% of the frame, at least 1000 px
    format: str = "png"

    def __post_init__(self) -> None:
        if self.format not in FORMATS:
            raise InvalidOptions(f"format must be one of {', '.join(FORMATS)}")
        if self.background is not None:
            parse_colour(self.background)
        if not 0 <= self.margin <= 1:
            raise InvalidOptions("margin must be between 0 and 1")
        if self.format != "png" and self.background is None and not self.marketplace:
            raise InvalidOptions("JPEG and WebP need an opaque background colour")

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> OutputOptions:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def extension(self) -> str:
        return {"png": ".png", "jpeg": ".jpg", "webp": ".webp"}[self.format]


def _subject_box(alpha: Image.Image) -> tuple[int, int, int, int] | None:
    # Faint halo pixels should not stretch the crop: only clearly opaque ones count.
    return alpha.point(lambda value: 255 if value > 24 else 0).getbbox()


def compose(image: Image.Image, mask: Mask, options: OutputOptions) -> Image.Image:
    """Apply the mask as alpha (soft edges kept), then background and framing."""
    # One full-size float temporary rather than three (mask * 255, its rounding, the cast):
    # a 12 MP mask is 48 MB of float32.
    scaled = mask * np.float32(255.0)
    scaled += np.float32(0.5)
    alpha = Image.fromarray(scaled.astype(np.uint8), mode="L")
    del scaled
    # Fully transparent pixels get no colour: the old background must not ride along hidden
    # in the file, and without it a PNG is two to four times smaller and faster to write.
    seen = alpha.point(lambda value: 255 if value else 0)
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    cutout = Image.composite(rgb, Image.new("RGB", image.size), seen)
    cutout.putalpha(alpha)
    if options.crop or options.marketplace:
        box = _subject_box(alpha)
        if box is not None:
            left, top, right, bottom = box
            pad = (
                0
                if options.marketplace
                else round(options.margin * max(right - left, bottom - top))
            )
            cutout = cutout.crop((left - pad, top - pad, right + pad, bottom + pad))
    if options.square or options.marketplace:
        side = max(cutout.size)
        if options.marketplace:
            side = max(round(side / MARKETPLACE_FILL), MARKETPLACE_MIN_SIDE)
            scale = side * MARKETPLACE_FILL / max(cutout.size)
            if scale > 1:
                size = (round(cutout.width * scale), round(cutout.height * scale))
                cutout = cutout.resize(size, Image.Resampling.LANCZOS)
        canvas = Image.new("RGBA", (side, side), (0, 0, 0, 0))
        canvas.paste(cutout, ((side - cutout.width) // 2, (side - cutout.height) // 2))
        cutout = canvas
    background = "#ffffff" if options.marketplace else options.background
    if background is None:
        return cutout
    flat = Image.new("RGB", cutout.size, parse_colour(background))
    flat.paste(cutout, mask=cutout.getchannel("A"))
    return flat


def encode(result: Image.Image, options: OutputOptions) -> bytes:
    """Encode a composed result in the chosen format."""
    buffer = io.BytesIO()
    if options.format == "png":
        result.save(buffer, "PNG", optimize=False, compress_level=PNG_LEVEL)
    elif options.format == "jpeg":
        result.convert("RGB").save(buffer, "JPEG", quality=92, subsampling=0)
    else:
        result.convert("RGB").save(buffer, "WEBP", quality=90, method=4)
    return buffer.getvalue()
