"""One image from file to result: decode, segment, compose, encode."""

from __future__ import annotations

from pathlib import Path

from services.engines.base import SegmentationEngine
from services.imaging.compose import OutputOptions, compose, encode
from services.imaging.intake import IntakeLimits, load_image
from services.recipes.matte import Matte, MattingEngine


def cut_out(
    source: Path, engine: SegmentationEngine, options: OutputOptions, limits: IntakeLimits
) -> bytes:
    """Return the encoded result for `source`: same size as the upright input unless framed.

    Raises:
        ImageRejected: the input is not a usable image.
        EngineUnavailable: the engine may work later.
        EngineFailed: the engine cannot handle this input.
    """
    image = load_image(source, limits)
    matte = engine.matte(image) if isinstance(engine, MattingEngine) else Matte(engine.mask(image))
    # Where a recipe estimated the subject's colour, the edges take it instead of the photo's.
    colours = matte.foreground if matte.foreground is not None else image
    return encode(compose(colours, matte.alpha, options), options)


def write_result(data: bytes, destination: Path) -> Path:
    """Write a result atomically, so a crash never leaves half a file under its final name."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_suffix(destination.suffix + ".part")
    partial.write_bytes(data)
    partial.replace(destination)
    return destination
