"""Free previews: a small, watermarked cutout of a quote's first image, a few per person a day.

`render_preview` is CPU work (decode, segment, compose, encode): callers run it in a thread
pool, never on an event loop. The allowance is counted in the database, per day in the
service's time zone, and given back when no preview could be made.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from PIL import Image, ImageDraw, ImageFont

from db.uow import UnitOfWork
from services.engines.base import SegmentationEngine
from services.imaging.compose import OutputOptions, compose
from services.imaging.intake import IntakeLimits, load_image
from services.plans import quota_day

WATERMARK = "PREVIEW"


@dataclass(frozen=True, slots=True)
class PreviewAllowance:
    day: date
    left: int  # previews left today after this one


async def take_preview_allowance(
    uow: UnitOfWork, account_id: int, *, per_day: int, zone: ZoneInfo, now: datetime
) -> PreviewAllowance | None:
    """Count one free preview for today; None when the day's previews are used up."""
    if per_day <= 0:
        return None
    day = quota_day(now, zone)
    async with uow:
        left = await uow.extras.take_preview(account_id, day, per_day)
        await uow.commit()
    return None if left is None else PreviewAllowance(day, left)


async def give_back_preview_allowance(uow: UnitOfWork, account_id: int, day: date) -> None:
    """Return a preview that could not be shown (engine unavailable, file unreadable)."""
    async with uow:
        await uow.extras.give_back_preview(account_id, day)
        await uow.commit()


def _watermark(image: Image.Image) -> Image.Image:
    """Write PREVIEW across the image, repeated, in a half-transparent grey."""
    layer = Image.new("RGBA", image.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    size = max(12, min(image.size) // 6)
    try:
        font: ImageFont.FreeTypeFont | ImageFont.ImageFont = ImageFont.load_default(size)
    except TypeError:  # Pillow without FreeType scales no default font
        font = ImageFont.load_default()
    left, top, right, bottom = draw.textbbox((0, 0), WATERMARK, font=font)
    step_x, step_y = round(right - left) + size, round(bottom - top) + size
    for row, y in enumerate(range(-step_y, image.height + step_y, step_y)):
        offset = (row % 2) * step_x // 2
        for x in range(-step_x + offset, image.width + step_x, step_x):
            draw.text((x, y), WATERMARK, font=font, fill=(128, 128, 128, 150))
    marked = image.convert("RGBA")
    marked.alpha_composite(layer)
    return marked


def render_preview(
    source: Path,
    engine: SegmentationEngine,
    limits: IntakeLimits,
    *,
    max_side: int,
    background: str | None = None,
) -> bytes:
    """Cut out a small copy of `source` and watermark it; return PNG bytes (blocking).

    The image is shrunk before segmentation: a preview costs a fraction of a full cutout.

    Raises:
        ImageRejected: the input is not a usable image.
        EngineUnavailable, EngineFailed, ModelMissing: the engine could not cut it out.
    """
    image = load_image(source, limits)
    image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    composed = compose(image, engine.mask(image), OutputOptions(background=background))
    buffer = io.BytesIO()
    _watermark(composed).save(buffer, "PNG")
    return buffer.getvalue()
