"""What a free preview costs next to the full cutout it stands for, by hand:

    python bench/preview.py                      # isnet-imgly-medium, 8 images x 3 rounds
    python bench/preview.py --model isnet-imgly-small --limit 12 --rounds 2

Per image, taking turns (preview, full, preview, full, ...) so the shared machine's load falls on
both alike: wall seconds and CPU seconds of `render_preview` (shrunk to --max-side, watermarked
PNG) and of the workers' `cut_out` at full size with the same engine; the ratio is what a preview
costs as a share of a basic-tier image.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

from services.engines.onnx_local import MODELS, Acceleration, OnnxEngine
from services.imaging.compose import OutputOptions
from services.imaging.cutout import cut_out
from services.imaging.intake import IntakeLimits
from services.previews import render_preview

SHARED = Path(__file__).resolve().parents[2] / "shared"


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--dataset", type=Path, default=SHARED / "datasets/composites")
    parser.add_argument("--models-dir", type=Path, default=SHARED / "models")
    parser.add_argument("--model", default="isnet-imgly-medium", choices=sorted(MODELS))
    parser.add_argument("--limit", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--max-side", type=int, default=384)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument(
        "--acceleration", choices=["auto", "cpu", "openvino", "openvino-bf16"], default="auto"
    )
    args = parser.parse_args()
    images = sorted((args.dataset / "images").glob("*.jpg"))
    if not images:
        raise SystemExit(f"no images at {args.dataset}: nothing to measure")
    images = images[:: max(1, len(images) // args.limit)][: args.limit]
    engine = OnnxEngine(
        MODELS[args.model], args.models_dir, args.threads, Acceleration(args.acceleration)
    )
    engine.session()  # loading is not part of the per-image time
    limits = IntakeLimits()
    timings: dict[str, list[tuple[float, float]]] = {"preview": [], "full": []}
    print(f"{args.model}, {len(images)} images x {args.rounds} rounds, load {os.getloadavg()}")
    for _ in range(args.rounds):
        for path in images:
            for kind in ("preview", "full"):
                wall, cpu = time.perf_counter(), time.process_time()
                if kind == "preview":
                    render_preview(path, engine, limits, max_side=args.max_side)
                else:
                    cut_out(path, engine, OutputOptions(), limits)
                timings[kind].append((time.perf_counter() - wall, time.process_time() - cpu))
    for kind, values in timings.items():
        wall = statistics.mean(v[0] for v in values)
        cpu = statistics.mean(v[1] for v in values)
        print(f"{kind:8} {wall:6.3f} s wall  {cpu:6.3f} CPU s per image")
    ratio = [p[1] / f[1] for p, f in zip(timings["preview"], timings["full"], strict=True)]
    print(
        f"preview / full CPU s: {statistics.mean(ratio):.2f} "
        f"(range {min(ratio):.2f}-{max(ratio):.2f}); load after {os.getloadavg()}"
    )


if __name__ == "__main__":
    main()
