"""Could colour statistics turn the model's opaque glass and veils see-through? By hand:

    python bench/see_through.py                       # defaults: sigma 50, residual 0.06
    python bench/see_through.py --sigma 25 --residual 0.08 --smoothness 0.1

An experiment, not a step of any recipe (docs/measured.md says why it was left out). Inside the
model's sure foreground it estimates the backdrop B behind each pixel (the sure background's
colour, spread inwards by a normalised Gaussian), the subject's colour F (the median of the
interior pixels farthest from B), and alpha = (I - B).(F - B) / |F - B|^2, kept only where the
photo lies on that line (small residual), alpha is mid-range, and such pixels fill most of a
31 px window; there it lowers the model's alpha. Prints each image's SAD of the model's own mask
and of the mask after the estimate, on matting-synth.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image
from scipy import ndimage

from services.engines.registry import EngineCatalog
from services.pricing import Tier
from services.settings import Settings
from workers.cutout import engine_config

SHARED = Path(__file__).resolve().parents[2] / "shared"
Array = NDArray[np.float32]


def _blur(values: Array, sigma: float) -> Array:
    return np.asarray(ndimage.gaussian_filter(values, sigma), dtype=np.float32)


def see_through(
    image: Array, alpha: Array, sigma: float, residual: float, smoothness: float | None
) -> Array:
    """The model's alpha, lowered where the photo reads as F over the nearby backdrop."""
    inside, backdrop = alpha > 0.98, alpha < 0.02
    weight = _blur(backdrop.astype(np.float32), sigma)
    behind = (
        np.stack([_blur(image[..., c] * backdrop, sigma) for c in range(3)], axis=-1)
        / np.maximum(weight, 1e-6)[..., None]
    )
    distance = np.linalg.norm(image - behind, axis=-1)
    reached = inside & (weight > 1e-3)
    if reached.sum() < 100:
        return alpha
    farthest = reached & (distance >= np.quantile(distance[reached], 0.9))
    subject = np.median(image[farthest], axis=0)
    span = subject - behind
    estimate = ((image - behind) * span).sum(-1) / np.maximum((span**2).sum(-1), 1e-4)
    estimate = np.clip(estimate, 0.0, 1.0)
    off_line = np.linalg.norm(image - (behind + estimate[..., None] * span), axis=-1)
    fits = (
        reached
        & (off_line < residual)
        & (np.linalg.norm(span, axis=-1) > 0.15)
        & (estimate > 0.1)
        & (estimate < 0.85)
    )
    if smoothness is not None:
        mean = ndimage.uniform_filter(estimate, 15)
        spread = np.sqrt(np.maximum(ndimage.uniform_filter(estimate**2, 15) - mean**2, 0.0))
        fits &= spread < smoothness
    region = reached & (ndimage.uniform_filter(fits.astype(np.float32), 31) > 0.6)
    lowered = alpha.copy()
    lowered[region] = np.minimum(alpha[region], estimate[region])
    return lowered


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--models-dir", type=Path, default=SHARED / "models")
    parser.add_argument("--sigma", type=float, default=50.0)
    parser.add_argument("--residual", type=float, default=0.06)
    parser.add_argument("--smoothness", type=float, default=None)
    parser.add_argument("--limit", type=int, default=0, help="images; 0: all")
    args = parser.parse_args()
    settings = Settings(
        _env_file=None, tier_preset="offline", models_dir=args.models_dir, onnx_threads=2
    )
    engine = EngineCatalog(engine_config(settings)).for_tier(Tier.BASIC)
    dataset = SHARED / "datasets" / "matting-synth"
    names = sorted(path.stem for path in (dataset / "images").glob("*.jpg"))
    names = names[: args.limit] if args.limit else names
    before = after = 0.0
    for name in names:
        photo = Image.open(dataset / "images" / f"{name}.jpg").convert("RGB")
        image = np.asarray(photo, np.float32) / np.float32(255.0)
        truth = np.asarray(Image.open(dataset / "alpha" / f"{name}.png"), np.float32) / 255
        alpha = engine.mask(photo).astype(np.float32)
        lowered = see_through(image, alpha, args.sigma, args.residual, args.smoothness)
        sad_model = float(np.abs(alpha - truth).sum() / 1000)
        sad_lowered = float(np.abs(lowered - truth).sum() / 1000)
        before, after = before + sad_model, after + sad_lowered
        print(f"{name:30} SAD {sad_model:6.1f} -> {sad_lowered:6.1f}", flush=True)
    print(f"mean SAD {before / len(names):.1f} -> {after / len(names):.1f}")


if __name__ == "__main__":
    main()
