"""Does the model on overlapping upscaled tiles beat its one global pass? By hand:

    python bench/tiled.py              # matting-synth, all 24 images

An experiment, not a step of any recipe (docs/measured.md says why it was left out). The photo
is upscaled 2x (LANCZOS), cut into 1024 px tiles that overlap (the model's own input size, so a
tile sees the subject at twice the detail), each tile's mask is blended with a Hann window, and
the result is scaled back (BOX). Prints per image the SAD of the global mask, of the tiled mask,
of their mean, and of their mean inside the global mask's edge band (10 px) only.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image
from scipy import ndimage

from services.engines.base import SegmentationEngine
from services.engines.registry import EngineCatalog
from services.pricing import Tier
from services.settings import Settings
from workers.cutout import engine_config

SHARED = Path(__file__).resolve().parents[2] / "shared"
TILE = 1024
Array = NDArray[np.float32]


def tiled_mask(engine: SegmentationEngine, photo: Image.Image) -> Array:
    """The model's mask of `photo` upscaled 2x, tile by tile, at the photo's size."""
    width, height = photo.size
    big = photo.resize((2 * width, 2 * height), Image.Resampling.LANCZOS)
    total = np.zeros((2 * height, 2 * width), np.float32)
    weight = np.zeros_like(total)
    hann = np.hanning(TILE + 2)[1:-1]
    window = (np.outer(hann, hann) + 1e-3).astype(np.float32)
    for top in sorted({0, max(0, 2 * height - TILE)}):
        for left in sorted({0, max(0, 2 * width - TILE)}):
            tile = big.crop((left, top, left + TILE, top + TILE))
            mask = engine.mask(tile)[: 2 * height - top, : 2 * width - left]
            rows, cols = mask.shape
            total[top : top + rows, left : left + cols] += mask * window[:rows, :cols]
            weight[top : top + rows, left : left + cols] += window[:rows, :cols]
    merged = Image.fromarray(total / weight, "F").resize((width, height), Image.Resampling.BOX)
    return np.asarray(merged, np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--models-dir", type=Path, default=SHARED / "models")
    parser.add_argument("--limit", type=int, default=0, help="images; 0: all")
    args = parser.parse_args()
    settings = Settings(
        _env_file=None, tier_preset="offline", models_dir=args.models_dir, onnx_threads=2
    )
    engine = EngineCatalog(engine_config(settings)).for_tier(Tier.BASIC).engine
    dataset = SHARED / "datasets" / "matting-synth"
    names = sorted(path.stem for path in (dataset / "images").glob("*.jpg"))
    names = names[: args.limit] if args.limit else names
    totals = dict.fromkeys(("global", "tiled", "mean", "band mean"), 0.0)
    for name in names:
        photo = Image.open(dataset / "images" / f"{name}.jpg").convert("RGB")
        truth = np.asarray(Image.open(dataset / "alpha" / f"{name}.png"), np.float32) / 255
        whole = engine.mask(photo).astype(np.float32)
        tiled = tiled_mask(engine, photo)
        inside = whole >= 0.5
        seeds = ((whole > 0.02) & (whole < 0.98)) | (inside ^ ndimage.binary_erosion(inside))
        band = ndimage.distance_transform_edt(~seeds) <= 10
        mean = ((whole + tiled) / 2).astype(np.float32)
        variants: dict[str, Array] = {
            "global": whole,
            "tiled": tiled,
            "mean": mean,
            "band mean": np.where(band, mean, whole).astype(np.float32),
        }
        line = []
        for key, alpha in variants.items():
            sad = float(np.abs(alpha - truth).sum() / 1000)
            totals[key] += sad
            line.append(f"{key} {sad:6.1f}")
        print(f"{name:30} " + "  ".join(line), flush=True)
    print("mean SAD: " + ", ".join(f"{k} {v / len(names):.1f}" for k, v in totals.items()))


if __name__ == "__main__":
    main()
