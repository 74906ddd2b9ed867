"""What shrinking onnxruntime's arena after each run costs in speed. Run by hand.

    .venv/bin/python bench/arena.py --rounds 3 --count 4

One process, one engine per model (isnet-imgly-medium on `--acceleration`, default auto, and
the 8-bit isnet-imgly-small, which runs on the CPU provider), the composites cut out through
`cut_out` as the workers call it. Within each round every image is cut out twice in a row by
each engine, once with `SHRINK_ARENA_AFTER_RUN` on and once off, the order swapped image by
image, so the machine's load falls on both sides alike. Printed per model and side: images/min
and CPU seconds per image, and the per-round ratio (shrinking / keeping) with its median.
Peak memory is `bench/memory.py`'s business: here both sides share one process.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.photos import COMPOSITES, SHARED, shared_images
from services.engines import onnx_local
from services.engines.onnx_local import MODELS, Acceleration, OnnxEngine
from services.imaging.compose import OutputOptions
from services.imaging.cutout import cut_out
from services.imaging.intake import IntakeLimits
from services.settings import Settings


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--count", type=int, default=4, help="composites per round")
    parser.add_argument("--acceleration", default="auto")
    args = parser.parse_args()
    settings = Settings(_env_file=None)
    cache = [Path(tempfile.gettempdir()) / "bgbot-bench-choices"]
    models = SHARED / "models"
    medium = MODELS["isnet-imgly-medium"]
    small = dataclasses.replace(medium, name="isnet-imgly-small", filename="isnet-imgly-small.onnx")
    threads = settings.onnx_threads
    engines = [
        OnnxEngine(medium, models, threads, Acceleration(args.acceleration), cache),
        OnnxEngine(small, models, threads, Acceleration.AUTO, cache),
    ]
    options, limits = OutputOptions(), IntakeLimits()
    images = shared_images(COMPOSITES)
    for engine in engines:
        engine.session()
        cut_out(images[0], engine, options, limits)  # warm-up
        print(f"{engine.name}: {engine.acceleration}, {threads} threads")
    # (model, shrink) -> per round [wall seconds, CPU seconds, images]
    totals: dict[tuple[str, bool], list[list[float]]] = {}
    for round_ in range(args.rounds):
        for n in range(args.count):
            path = images[(round_ * args.count + n) % len(images)]
            for engine in engines:
                for shrink in (True, False) if n % 2 == 0 else (False, True):
                    onnx_local.SHRINK_ARENA_AFTER_RUN = shrink
                    wall, cpu = time.perf_counter(), time.process_time()
                    cut_out(path, engine, options, limits)
                    rounds = totals.setdefault((engine.name, shrink), [])
                    while len(rounds) <= round_:
                        rounds.append([0.0, 0.0, 0.0])
                    rounds[round_][0] += time.perf_counter() - wall
                    rounds[round_][1] += time.process_time() - cpu
                    rounds[round_][2] += 1
    for engine in engines:
        rates = {}
        for shrink in (True, False):
            rounds = totals[(engine.name, shrink)]
            wall = sum(r[0] for r in rounds)
            cpu = sum(r[1] for r in rounds)
            count = sum(r[2] for r in rounds)
            rates[shrink] = [60 * r[2] / r[0] for r in rounds]
            side = "shrink" if shrink else "keep  "
            print(
                f"  {engine.name} {side}: {60 * count / wall:.1f} images/min, "
                f"{cpu / count:.2f} CPU s/image"
            )
        ratios = [a / b for a, b in zip(rates[True], rates[False], strict=True)]
        shown = ", ".join(f"{r:.3f}" for r in ratios)
        median = statistics.median(ratios)
        print(f"  {engine.name} shrink/keep images/min per round: {shown}; median {median:.3f}")
    load = os.getloadavg()
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


if __name__ == "__main__":
    main()
