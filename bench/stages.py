"""Where the time of one image goes, stage by stage, and what each PNG level costs.

Run by hand:

    .venv/bin/python bench/stages.py --count 6
    .venv/bin/python bench/stages.py --acceleration cpu --threads 2

For each image set (composites, matting-synth, 12 MP phone photos made at run time) every
stage of `services.imaging.cutout.cut_out` is run on its own and timed in CPU seconds (a
shared machine's load changes wall time, much less CPU time): decode with EXIF orientation,
the model's input (resize and normalise), inference, the mask back to full size, compositing,
PNG encoding at the chosen level, and storing the PNG in a ZIP. Then every PNG level from 0 to
9 is tried on the composed results: CPU seconds and size, per set.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import os
import statistics
import sys
import tempfile
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.photos import COMPOSITES, MATTING, SHARED, phone_photos, shared_images
from services.engines.base import Mask
from services.engines.onnx_local import MODELS, Acceleration, OnnxEngine, _probability
from services.imaging.compose import PNG_LEVEL, OutputOptions, compose, encode
from services.imaging.intake import IntakeLimits, load_image


class Stopwatch:
    """CPU seconds per stage, accumulated over images: `with watch("decode"): ...`."""

    def __init__(self) -> None:
        self.figures: dict[str, list[float]] = {}

    @contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        started = time.process_time()
        yield
        self.figures.setdefault(stage, []).append(time.process_time() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--count", type=int, default=6, help="images per set")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--acceleration", default="auto", choices=[a.value for a in Acceleration])
    parser.add_argument("--levels", type=int, nargs="*", default=list(range(10)))
    args = parser.parse_args()
    spec = dataclasses.replace(MODELS["isnet-imgly-medium"])
    scratch = Path(tempfile.gettempdir())
    acceleration = Acceleration(args.acceleration)
    engine = OnnxEngine(spec, SHARED / "models", args.threads, acceleration, [scratch])
    session = engine.session()
    name = session.get_outputs()[0].name
    load = os.getloadavg()
    print(f"{os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print(f"model {spec.filename}, {engine.acceleration}, {args.threads} thread(s); CPU seconds")
    photos = scratch / "bgbot-bench-photos"
    sets = {
        "composites": shared_images(COMPOSITES)[: args.count],
        "matting-synth": shared_images(MATTING)[: args.count],
        "12 MP photos": phone_photos(photos, args.count),
    }
    limits, options = IntakeLimits(), OutputOptions()
    for label, paths in sets.items():
        watch = Stopwatch()
        levels: dict[int, list[tuple[float, int]]] = {}
        for path in paths:
            with watch("decode + EXIF"):
                image = load_image(path, limits)
            with watch("model input"):
                feed = engine._input(image)
            with watch("inference"):
                (raw,) = session.run([name], {session.get_inputs()[0].name: feed})
            small = _probability(spec, raw)
            with watch("mask to full size"):
                mask = _full_size(small, image.size)
            with watch("compose"):
                result = compose(image, mask, options)
            with watch(f"PNG (level {PNG_LEVEL})"):
                png = encode(result, options)
            with watch("ZIP (stored)"):
                _zip(png)
            for level in args.levels:
                started = time.process_time()
                buffer = io.BytesIO()
                result.save(buffer, "PNG", compress_level=level)
                levels.setdefault(level, []).append((time.process_time() - started, buffer.tell()))
        figures = watch.figures
        total = sum(statistics.mean(values) for values in figures.values())
        print(f"\n{label}: {len(paths)} images, {image.width}x{image.height} (last)")
        for stage, values in figures.items():
            mean = statistics.mean(values)
            print(f"  {stage:20} {mean:6.3f} s  {100 * mean / total:4.1f}%")
        print(f"  {'total':20} {total:6.3f} s")
        print("  PNG level: CPU s / MB")
        for level, pairs in levels.items():
            seconds = statistics.mean(p[0] for p in pairs)
            size = statistics.mean(p[1] for p in pairs) / 1e6
            print(f"    {level}: {seconds:6.3f} s  {size:6.2f} MB")


def _full_size(small: Mask, size: tuple[int, int]) -> Mask:
    """The end of `OnnxEngine.mask`: the model's mask back at the image's size."""
    full = Image.fromarray(np.clip(small, 0.0, 1.0), mode="F")
    return np.clip(np.asarray(full.resize(size, Image.Resampling.BILINEAR), np.float32), 0.0, 1.0)


def _zip(png: bytes) -> int:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr("result.png", png)
    return buffer.tell()


if __name__ == "__main__":
    main()
