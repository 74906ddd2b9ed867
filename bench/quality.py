"""Mask quality per model against the ground-truth masks of ../shared/datasets, by hand:

    python bench/quality.py                       # every model present in the models folder
    python bench/quality.py --models isnet-imgly-medium selfie-segmentation --limit 12

For each model: mean IoU (alpha > 127) and mean absolute error of the alpha (0..1) against
`masks/<name>.png`, overall and per subject (the part of the file name before "-on-").
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from PIL import Image

from services.engines.onnx_local import MODELS, Acceleration, OnnxEngine
from services.imaging.intake import IntakeLimits, load_image

SHARED = Path(__file__).resolve().parents[2] / "shared"


def _scores(alpha: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    ours, theirs = alpha > 0.5, truth > 0.5
    iou = float((ours & theirs).sum() / max((ours | theirs).sum(), 1))
    return iou, float(np.abs(alpha - truth).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--dataset", type=Path, default=SHARED / "datasets/composites")
    parser.add_argument("--models-dir", type=Path, default=SHARED / "models")
    parser.add_argument("--models", nargs="*", help="model names; default: all present")
    parser.add_argument("--limit", type=int, default=0, help="images per model; 0: all")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument(
        "--acceleration", choices=["auto", "cpu", "openvino", "openvino-bf16"], default="auto"
    )
    args = parser.parse_args()

    if not (args.dataset / "images").is_dir():
        raise SystemExit(f"no dataset at {args.dataset}: nothing to measure")
    names = args.models or [
        name for name, spec in MODELS.items() if (args.models_dir / spec.filename).is_file()
    ]
    images = sorted((args.dataset / "images").glob("*.jpg"))
    if args.limit:
        # Spread the sample over the subjects rather than taking the first ones alphabetically.
        images = images[:: max(1, len(images) // args.limit)][: args.limit]
    print(f"{len(images)} images from {args.dataset}")
    print(f"{'model':22} {'subject':16} {'IoU':>7} {'MAE':>7}  images  s/image")
    for name in names:
        engine = OnnxEngine(
            MODELS[name], args.models_dir, args.threads, Acceleration(args.acceleration)
        )
        engine.session()  # loading is not part of the per-image time
        by_subject: dict[str, list[tuple[float, float]]] = defaultdict(list)
        started = time.perf_counter()
        for path in images:
            image = load_image(path, IntakeLimits())
            alpha = engine.mask(image)
            truth = np.asarray(Image.open(args.dataset / "masks" / f"{path.stem}.png").convert("L"))
            by_subject[path.stem.split("-on-")[0]].append(_scores(alpha, truth / 255.0))
        per_image = (time.perf_counter() - started) / len(images)
        every = [score for scores in by_subject.values() for score in scores]
        for subject, scores in sorted(by_subject.items()):
            iou = statistics.mean(s[0] for s in scores)
            mae = statistics.mean(s[1] for s in scores)
            print(f"{name:22} {subject:16} {iou:7.3f} {mae:7.4f}  {len(scores):6}")
        iou = statistics.mean(s[0] for s in every)
        mae = statistics.mean(s[1] for s in every)
        print(f"{name:22} {'all':16} {iou:7.3f} {mae:7.4f}  {len(every):6}  {per_image:7.2f}")


if __name__ == "__main__":
    main()
