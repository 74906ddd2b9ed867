"""Each tier's recipe against exact alpha and foreground colour, by hand:

    python bench/tiers.py --preset offline               # the ladder of ../shared/models
    python bench/tiers.py --preset offline --limit 6 --datasets matting-synth

Prints, per tier and per dataset: SAD (/1000), alpha MSE (x1000), gradient error (/1000), IoU
(alpha > 0.5), edge colour error against the true foreground (matting-synth only: composites
have no foreground file), seconds per image and the process's peak RSS.

Tiers that share an engine share its inference: the model runs once per image (and once on
the mirror image for `flip`), and each tier's seconds are that inference's time plus the
tier's own post-steps, so the figures are those of a worker serving the tier alone.
"""

from __future__ import annotations

import argparse
import hashlib
import resource
import statistics
import time
from collections import defaultdict
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image
from scipy import ndimage

from services.engines.base import Mask, SegmentationEngine
from services.engines.registry import EngineCatalog
from services.imaging.compose import OutputOptions, compose
from services.pricing import Tier
from services.recipes.flip import FlipAveraged
from services.recipes.runner import RecipeEngine
from services.settings import Settings
from workers.cutout import engine_config

SHARED = Path(__file__).resolve().parents[2] / "shared"


# Scores as matting-synth's SOURCE.md defines them: SAD, MSE, the gradient error of the
# Composition-1k code (Gaussian derivatives, sigma 1.4), IoU of alpha > 0.5, and the edge
# colour error over the truth's soft pixels, weighted by the true alpha, where the cutout
# shows anything.
Array = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Scores:
    sad: float
    mse: float
    grad: float
    iou: float
    colour: float


@cache
def _derivative_kernel(sigma: float) -> Array:
    epsilon = 1e-2
    half = int(np.ceil(sigma * np.sqrt(-2 * np.log(np.sqrt(2 * np.pi) * sigma * epsilon))))
    steps = np.arange(-half, half + 1, dtype=np.float64)
    gauss = np.exp(-(steps**2) / (2 * sigma**2)) / (sigma * np.sqrt(2 * np.pi))
    derivative = -steps * gauss / sigma**2
    kernel = np.outer(gauss, derivative)
    normalised: Array = kernel / np.sqrt((kernel**2).sum())
    return normalised


def _gradient_magnitude(alpha: Array, sigma: float = 1.4) -> Array:
    kernel = _derivative_kernel(sigma)
    along_x = ndimage.convolve(alpha, kernel, mode="nearest")
    along_y = ndimage.convolve(alpha, kernel.T, mode="nearest")
    return np.asarray(np.sqrt(along_x**2 + along_y**2))


def score(alpha: Array, rgb: Array, true_alpha: Array, true_rgb: Array) -> Scores:
    """Alpha in 0..1, RGB in 0..255, all H x W (x 3)."""
    difference = alpha - true_alpha
    ours, theirs = alpha > 0.5, true_alpha > 0.5
    iou = float((ours & theirs).sum() / max((ours | theirs).sum(), 1))
    grad = float(((_gradient_magnitude(alpha) - _gradient_magnitude(true_alpha)) ** 2).sum())
    soft = (true_alpha > 0) & (true_alpha < 1) & (alpha > 0)
    weights = true_alpha[soft]
    errors = np.abs(rgb[soft] - true_rgb[soft]).mean(axis=-1)
    colour = float((errors * weights).sum() / max(weights.sum(), 1e-9))
    return Scores(
        sad=float(np.abs(difference).sum() / 1000),
        mse=float((difference**2).mean() * 1000),
        grad=grad / 1000,
        iou=iou,
        colour=colour,
    )


class TimedMemo:
    """A model that remembers its masks per image content, and what each one cost."""

    def __init__(self, engine: SegmentationEngine) -> None:
        self.inner = engine
        self.name = engine.name
        self.cache: dict[bytes, tuple[Mask, float]] = {}
        self.spent = 0.0  # inference time of the masks handed out, fresh or remembered
        self.fresh = 0.0  # inference time actually spent now

    def mask(self, image: Image.Image) -> Mask:
        key = hashlib.blake2b(image.tobytes(), digest_size=16).digest()
        if key not in self.cache:
            started = time.perf_counter()
            result = self.inner.mask(image)
            cost = time.perf_counter() - started
            self.cache = {key: (result, cost), **dict(list(self.cache.items())[-3:])}
            self.fresh += cost
        result, cost = self.cache[key]
        self.spent += cost
        return result


def _share_models(recipes: dict[Tier, RecipeEngine]) -> list[TimedMemo]:
    """Put one memo around each model, under flip averaging where a recipe has it."""
    memos: dict[str, TimedMemo] = {}
    for recipe in recipes.values():
        outer = recipe.engine
        model = outer.engine if isinstance(outer, FlipAveraged) else outer
        memo = memos.setdefault(model.name, TimedMemo(model))
        if isinstance(outer, FlipAveraged):
            outer.engine = memo
        else:
            recipe.engine = memo
    return list(memos.values())


def _truth(dataset: Path, name: str) -> tuple[np.ndarray, np.ndarray | None]:
    if (dataset / "alpha").is_dir():
        alpha = np.asarray(Image.open(dataset / "alpha" / f"{name}.png"), np.float64) / 255
        colour = np.asarray(Image.open(dataset / "fg" / f"{name}.png").convert("RGB"), np.float64)
        return alpha, colour
    mask = Image.open(dataset / "masks" / f"{name}.png").convert("L")
    return np.asarray(mask, np.float64) / 255, None


def _kind(name: str) -> str:
    """The subject of an image name: `03-fur-cat-on-grass` -> `fur-cat`."""
    subject = name.split("-on-", maxsplit=1)[0]
    return subject.split("-", 1)[1] if subject[:2].isdigit() else subject


def measure(recipes: dict[Tier, RecipeEngine], dataset: Path, limit: int) -> None:
    """Score every tier on every image of `dataset` and print the table."""
    memos = _share_models(recipes)
    names = sorted(path.stem for path in (dataset / "images").glob("*.jpg"))
    names = names[:limit] if limit else names
    results: dict[Tier, list[Scores]] = defaultdict(list)
    seconds: dict[Tier, list[float]] = defaultdict(list)
    kinds: dict[Tier, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for name in names:
        image = Image.open(dataset / "images" / f"{name}.jpg").convert("RGB")
        true_alpha, true_colour = _truth(dataset, name)
        for tier, recipe in recipes.items():
            for memo in memos:
                memo.spent = memo.fresh = 0.0
            started = time.perf_counter()
            matte = recipe.matte(image)
            # The RGBA a person receives, 8 bits per channel.
            cutout = compose(matte.foreground or image, matte.alpha, OutputOptions())
            elapsed = time.perf_counter() - started
            seconds[tier].append(elapsed + sum(memo.spent - memo.fresh for memo in memos))
            rgba = np.asarray(cutout, np.float64)
            colour = true_colour if true_colour is not None else rgba[..., :3]
            scores = score(rgba[..., 3] / 255, rgba[..., :3], true_alpha, colour)
            results[tier].append(scores)
            kinds[tier][_kind(name)].append(scores.sad)
        print(f"  {name}", flush=True)
    print(f"\n{dataset.name}: {len(names)} images")
    print("tier            SAD    MSE   Grad    IoU  ColErr  s/image")
    for tier in recipes:
        rows = results[tier]

        def mean(field: str, rows: list[Scores] = rows) -> float:
            return statistics.fmean(getattr(row, field) for row in rows)

        colour_text = f"{mean('colour'):6.1f}" if true_colour is not None else "     -"
        print(
            f"{tier.value:13} {mean('sad'):6.1f} {mean('mse'):6.1f} {mean('grad'):6.1f} "
            f"{mean('iou'):6.3f} {colour_text} {statistics.fmean(seconds[tier]):8.2f}"
        )
    for tier in recipes:
        by_kind = sorted(kinds[tier].items())
        line = " ".join(f"{kind} {statistics.fmean(values):.1f}" for kind, values in by_kind)
        print(f"  SAD by subject, {tier.value}: {line}")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--preset", default="offline", choices=["default", "offline"])
    parser.add_argument("--models-dir", type=Path, default=SHARED / "models")
    parser.add_argument("--datasets", nargs="*", default=["matting-synth", "composites"])
    parser.add_argument("--tiers", nargs="*", default=[tier.value for tier in Tier])
    parser.add_argument("--limit", type=int, default=0, help="images per dataset; 0: all")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    settings = Settings(
        _env_file=None,
        tier_preset=args.preset,
        models_dir=args.models_dir,
        onnx_threads=args.threads,
    )
    catalog = EngineCatalog(engine_config(settings))
    recipes = {Tier(value): catalog.for_tier(Tier(value)) for value in args.tiers}
    warm_up = Image.new("RGB", (96, 64), (200, 120, 80))
    for tier, recipe in recipes.items():
        # Not timed: the session load and the first compilation of the matting code.
        recipe.matte(warm_up)
        print(f"{tier.value:13} {recipe.name}")
    for name in args.datasets:
        measure(recipes, SHARED / "datasets" / name, args.limit)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak RSS {peak:.0f} MB (one process: every tier's model and steps)")


if __name__ == "__main__":
    main()
