"""A preview of a cutout for chat apps that show images without transparency."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image

PREVIEW_MAX_SIDE = 1600
PREVIEW_MAX_BYTES = 5 * 2**20  # the WhatsApp Cloud API's limit for images


def white_preview(path: Path, *, max_side: int = PREVIEW_MAX_SIDE) -> bytes:
    """A JPEG of the image over white, at most `max_side` px and under 5 MB; blocking."""
    with Image.open(path) as source:
        source.load()
        image = source.convert("RGBA")
    image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    canvas = Image.new("RGB", image.size, (255, 255, 255))
    canvas.paste(image, mask=image.getchannel("A"))
    for quality in (90, 80, 70, 55, 40):
        buffer = io.BytesIO()
        canvas.save(buffer, "JPEG", quality=quality, optimize=True)
        if buffer.tell() <= PREVIEW_MAX_BYTES:
            return buffer.getvalue()
    canvas.thumbnail((max_side // 2, max_side // 2))
    buffer = io.BytesIO()
    canvas.save(buffer, "JPEG", quality=60)
    return buffer.getvalue()
