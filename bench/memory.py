"""Peak memory of one worker process with two tiers' models loaded. Run by hand.

    .venv/bin/python bench/memory.py --images 8

Two engines for different models (isnet-imgly-medium, and the 8-bit isnet-imgly-small file as
a second tier's model), plus a second engine for the medium model as another tier would make
it, all through one worker pool of WORKER_THREADS on default settings, on the composites.
Printed: whether the two engines of one model share one session (one copy of the model per
process), the RSS after loading, and the peak RSS over the run (`ru_maxrss`).
`--models 1` loads the medium model alone; `--keep-arena` turns off the arena's shrinking
after each run (`SHRINK_ARENA_AFTER_RUN`), to measure what it saves; `--recipe TEXT` (e.g.
`isnet-imgly-medium+matting+foreground@768`) runs the first medium engine through that tier
recipe's steps, as the offline ladder's industry tier does, the other engines plain.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import resource
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.photos import COMPOSITES, SHARED, phone_photos, shared_images
from services.engines import onnx_local
from services.engines.onnx_local import MODELS, Acceleration, OnnxEngine
from services.imaging.compose import OutputOptions
from services.imaging.cutout import cut_out
from services.imaging.intake import IntakeLimits
from services.recipes.runner import RecipeEngine
from services.recipes.spec import Recipe
from services.settings import Settings


def rss_mb() -> float:
    with Path("/proc/self/status").open() as status:
        line = next(line for line in status if line.startswith("VmRSS"))
    return int(line.split()[1]) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--acceleration", default="auto")
    parser.add_argument("--models", type=int, choices=(1, 2), default=2)
    parser.add_argument("--keep-arena", action="store_true")
    parser.add_argument("--recipe", default="")
    parser.add_argument("--phone", action="store_true", help="12 MP photos, not the composites")
    args = parser.parse_args()
    onnx_local.SHRINK_ARENA_AFTER_RUN = not args.keep_arena
    settings = Settings(_env_file=None)
    acceleration = Acceleration(args.acceleration)
    cache = [Path(tempfile.gettempdir()) / "bgbot-bench-choices"]
    models = SHARED / "models"
    medium = MODELS["isnet-imgly-medium"]
    small = dataclasses.replace(medium, name="isnet-imgly-small", filename="isnet-imgly-small.onnx")
    threads = settings.onnx_threads
    tiers = [
        OnnxEngine(medium, models, threads, acceleration, cache),
        OnnxEngine(small, models, threads, acceleration, cache),
        OnnxEngine(medium, models, threads, acceleration, cache),
    ]
    if args.models == 1:
        tiers = [tiers[0], tiers[2]]
    print(f"idle RSS {rss_mb():.0f} MB; {settings.worker_threads} workers x {threads} threads")
    sessions = [engine.session() for engine in tiers]
    print(f"one session for the medium model's two engines: {sessions[0] is sessions[-1]}")
    print(f"arena shrinks after each run: {onnx_local.SHRINK_ARENA_AFTER_RUN}")
    for engine in tiers[: args.models]:
        print(f"  {engine.name}: {engine.acceleration}")
    print(f"RSS with {args.models} model(s) loaded {rss_mb():.0f} MB")
    options, limits = OutputOptions(), IntakeLimits()
    if args.phone:
        images = phone_photos(Path(tempfile.gettempdir()) / "bgbot-bench-photos", args.images)
    else:
        images = shared_images(COMPOSITES)[: args.images]
    runners: list[OnnxEngine | RecipeEngine] = list(tiers)
    if args.recipe:
        runners[0] = RecipeEngine(Recipe.parse(args.recipe), tiers[0])
        print(f"  first engine runs as {runners[0].name}")
    work = [(runners[n % len(runners)], path) for n, path in enumerate(images)]
    with ThreadPoolExecutor(settings.worker_threads) as pool:
        list(pool.map(lambda pair: cut_out(pair[1], pair[0], options, limits), work))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"after {len(work)} images: RSS {rss_mb():.0f} MB, peak RSS {peak:.0f} MB")
    load = os.getloadavg()
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


if __name__ == "__main__":
    main()
