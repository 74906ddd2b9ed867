"""Speed and memory of this engine next to rembg 2.0.86, on the same ONNX file and images.

Run by hand (`pip install -e '.[bench]'` first):

    python bench/speed.py --count 4 --rounds 3
    python bench/speed.py --count 4 --rounds 3 --acceleration cpu
    python bench/speed.py --count 12 --rounds 3 --workers 2 --threads 1

Three image sets, `--count` of each per round: the composites and the matting-synth images of
../shared (800x600), and 12 MP phone photos (4000x3000 JPEGs, some stored sideways with EXIF
orientation) made from them at run time in the temporary folder (see bench/photos.py).

Each side runs in a child process of its own, so each peak RSS is that side's own (the
`wait4` figure of the child), and each round starts new children: the load time printed is a
cold start's. Our side runs with the default settings (ONNX_ACCELERATION=auto, ONNX_THREADS)
unless told otherwise; AUTO's measured choice is kept in a scratch folder shared by the rounds,
so round 1's load time includes the calibration and later rounds read it. Both sides go from
the file on disk to PNG bytes with alpha, after a warm-up image outside the timing.

By default the two children take turns image by image (ours, rembg, rembg, ours, ...), each
idle while the other works: a neighbour's load on a shared machine then falls on both sides
alike, and the per-round ratio is what to read. With `--workers N` our side instead cuts out N
images at once, as the worker pool does, while rembg goes one by one as its CLI does; the
sides then run one after the other, alternating which goes first each round.

Prints images per minute and CPU seconds per image per set and overall, load time, peak RSS,
the per-round ratio ours/rembg and its median, and the IoU of our masks against rembg's.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


def _alpha(png: bytes) -> Image.Image:
    return Image.open(io.BytesIO(png)).getchannel("A")


def _our_cutter(
    model: Path, threads: int, acceleration: str, cache: Path
) -> tuple[Callable[[Path], bytes], str]:
    from services.engines.onnx_local import MODELS, Acceleration, OnnxEngine
    from services.imaging.compose import OutputOptions
    from services.imaging.cutout import cut_out
    from services.imaging.intake import IntakeLimits

    spec = dataclasses.replace(MODELS["isnet-imgly-medium"], filename=model.name)
    engine = OnnxEngine(spec, model.parent, threads, Acceleration(acceleration), [cache])
    engine.session()  # load, prepare and (AUTO) calibrate now: part of the load time printed
    options, limits = OutputOptions(), IntakeLimits()
    return (lambda path: cut_out(path, engine, options, limits)), str(engine.acceleration)


def _rembg_cutter(model: Path) -> Callable[[Path], bytes]:
    # rembg loads a custom file only from under its home: point the home at the model's folder.
    os.environ["U2NET_HOME"] = str(model.parent)
    from rembg import new_session, remove

    # rembg's CPU install (rembg[cpu]) runs onnxruntime's CPU provider; name it, since rembg
    # would otherwise pick any other provider the installed onnxruntime offers.
    session = new_session("dis_custom", model_path=str(model), providers=["CPUExecutionProvider"])

    def cutter(path: Path) -> bytes:
        result = remove(path.read_bytes(), session=session)
        assert isinstance(result, bytes)
        return result

    return cutter


def _serve(args: argparse.Namespace) -> None:
    """Child: cut out each path read from stdin, answering with the seconds it took."""
    started = time.perf_counter()
    if args.child == "ours":
        cutter, path_taken = _our_cutter(args.model, args.threads, args.acceleration, args.cache)
    else:
        cutter, path_taken = _rembg_cutter(args.model), "onnxruntime CPU provider"
    answer = {"load_seconds": time.perf_counter() - started, "path": path_taken}
    print(json.dumps(answer), flush=True)
    for line in sys.stdin:
        paths = [Path(p) for p in json.loads(line)]
        wall, cpu = time.perf_counter(), time.process_time()
        with ThreadPoolExecutor(max(1, args.workers if args.child == "ours" else 1)) as pool:
            results = list(pool.map(cutter, paths))
        figures = {"seconds": time.perf_counter() - wall, "cpu_seconds": time.process_time() - cpu}
        for path, result in zip(paths, results, strict=True):
            _alpha(result).save(args.masks / f"{path.stem}.png", compress_level=1)
        print(json.dumps(figures), flush=True)


@dataclasses.dataclass
class Tally:
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    images: int = 0

    def add(self, seconds: float, cpu_seconds: float, images: int) -> None:
        self.seconds += seconds
        self.cpu_seconds += cpu_seconds
        self.images += images

    @property
    def rate(self) -> float:
        return 60 * self.images / self.seconds

    @property
    def cpu_per_image(self) -> float:
        return self.cpu_seconds / self.images


class _Child:
    def __init__(self, side: str, args: argparse.Namespace, masks: Path) -> None:
        command = [sys.executable, __file__, "--child", side, "--masks", str(masks)]
        command += ["--model", str(args.model), "--threads", str(args.threads)]
        command += ["--workers", str(args.workers), "--acceleration", args.acceleration]
        command += ["--cache", str(args.cache)]
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=REPO
        )
        started = self._answer()
        self.load_seconds = float(started["load_seconds"])
        self.path_taken = str(started["path"])
        self.total = Tally()
        self.sets: dict[str, Tally] = {}
        self.peak = 0.0

    def _answer(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise SystemExit(f"a child failed: exit {self.process.wait()}")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def cut(self, paths: list[Path], label: str | None) -> None:
        """Cut out `paths`; counted under the set `label`, or a warm-up when None."""
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps([str(p) for p in paths]) + "\n")
        self.process.stdin.flush()
        figures = self._answer()
        if label is not None:
            for tally in (self.total, self.sets.setdefault(label, Tally())):
                tally.add(figures["seconds"], figures["cpu_seconds"], len(paths))

    def close(self) -> float:
        """End the child; its peak RSS, in MB."""
        assert self.process.stdin is not None
        self.process.stdin.close()
        _, status, usage = os.wait4(self.process.pid, 0)
        self.process.returncode = os.waitstatus_to_exitcode(status)
        return usage.ru_maxrss / 1024  # kilobytes on Linux


def _round(
    args: argparse.Namespace, images: list[tuple[str, Path]], scratch: Path, number: int
) -> dict[str, Any]:
    sides = ["rembg", "ours"] if number % 2 == 0 else ["ours", "rembg"]
    masks = {side: scratch / f"{number}-{side}" for side in sides}
    for folder in masks.values():
        folder.mkdir()
    warm_up = [images[0][1]]
    if args.workers > 1:
        children = {}
        for side in sides:
            child = children[side] = _Child(side, args, masks[side])
            child.cut(warm_up, None)
            if side == "ours":
                for label in dict.fromkeys(label for label, _ in images):
                    child.cut([path for name, path in images if name == label], label)
            else:
                for label, path in images:
                    child.cut([path], label)
            child.peak = child.close()
    else:
        children = {side: _Child(side, args, masks[side]) for side in sides}
        for child in children.values():
            child.cut(warm_up, None)
        for position, (label, path) in enumerate(images):
            turn = sides if position % 2 == 0 else sides[::-1]
            for side in turn:
                children[side].cut([path], label)
        for child in children.values():
            child.peak = child.close()
    return {"children": children, "iou": _iou(masks["ours"], masks["rembg"])}


def _iou(ours: Path, theirs: Path) -> float:
    scores = []
    for path in sorted(theirs.glob("*.png")):
        a = np.asarray(Image.open(path)) > 127
        b = np.asarray(Image.open(ours / path.name)) > 127
        scores.append((a & b).sum() / max((a | b).sum(), 1))
    return float(np.mean(scores))


def _image_sets(args: argparse.Namespace) -> list[tuple[str, Path]]:
    """`count` images of each set, interleaved so that no set runs only early or late."""
    sys.path.insert(0, str(REPO))
    from bench.photos import COMPOSITES, MATTING, phone_photos, shared_images

    photos = Path(tempfile.gettempdir()) / "bgbot-bench-photos"
    sets = {
        "composites": shared_images(COMPOSITES)[: args.count],
        "matting-synth": shared_images(MATTING)[: args.count],
        "12 MP photos": phone_photos(photos, args.count),
    }
    chosen = {label: sets[label] for label in args.sets}
    return [
        (label, paths[n])
        for n in range(args.count)
        for label, paths in chosen.items()
        if n < len(paths)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--model", type=Path, default=SHARED / "models/isnet-imgly-medium.onnx")
    parser.add_argument("--count", type=int, default=4, help="images of each set per round")
    parser.add_argument(
        "--sets",
        nargs="+",
        choices=["composites", "matting-synth", "12 MP photos"],
        default=["composites", "matting-synth", "12 MP photos"],
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="ours: ONNX_THREADS")
    parser.add_argument("--workers", type=int, default=1, help="images at once on our side")
    parser.add_argument(
        "--acceleration",
        choices=["auto", "cpu", "openvino", "openvino-bf16", "int8"],
        default="auto",
        help="ours, as ONNX_ACCELERATION",
    )
    parser.add_argument("--child", choices=["ours", "rembg"], help=argparse.SUPPRESS)
    parser.add_argument("--masks", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--cache", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.threads is None:
        sys.path.insert(0, str(REPO))
        from services.settings import Settings

        args.threads = Settings(_env_file=None).onnx_threads
    if args.child:
        _serve(args)
        return

    images = _image_sets(args)
    load = os.getloadavg()
    mode = "turn by turn" if args.workers == 1 else f"ours {args.workers} at once, then rembg"
    print(f"{args.count} images of each of {', '.join(args.sets)} per round; {args.model.name}")
    print(f"{os.cpu_count()} CPUs, load average before {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print(f"ours: {args.threads} onnxruntime thread(s) per run, {args.acceleration}; {mode}")
    rates: dict[str, list[float]] = {"ours": [], "rembg": []}
    peaks: dict[str, list[float]] = {"ours": [], "rembg": []}
    set_ratios: dict[str, list[float]] = {}
    cpu: dict[str, list[float]] = {"ours": [], "rembg": []}
    ious = []
    with tempfile.TemporaryDirectory() as scratch:
        args.cache = Path(scratch) / "choices"
        for number in range(args.rounds):
            result = _round(args, images, Path(scratch), number)
            children = result["children"]
            for side in ("rembg", "ours"):
                child = children[side]
                rates[side].append(child.total.rate)
                peaks[side].append(child.peak)
                cpu[side].append(child.total.cpu_per_image)
                print(
                    f"round {number + 1} {side:5}: {child.total.rate:5.1f} images/min, "
                    f"{child.total.cpu_per_image:.2f} CPU s/image, "
                    f"peak RSS {child.peak:.0f} MB, load {child.load_seconds:.1f} s "
                    f"({child.path_taken})"
                )
                for label, tally in child.sets.items():
                    print(
                        f"    {label:14} {tally.rate:6.1f} images/min, "
                        f"{tally.cpu_per_image:.2f} CPU s/image"
                    )
            for label, tally in children["ours"].sets.items():
                theirs = children["rembg"].sets[label]
                set_ratios.setdefault(label, []).append(tally.rate / theirs.rate)
            ious.append(result["iou"])
    ratios = [o / r for o, r in zip(rates["ours"], rates["rembg"], strict=True)]
    print()
    for side in ("rembg", "ours"):
        print(
            f"{side:5}: {statistics.median(rates[side]):.1f} images/min median "
            f"(min {min(rates[side]):.1f}, max {max(rates[side]):.1f}), "
            f"{statistics.median(cpu[side]):.2f} CPU s/image, "
            f"peak RSS {max(peaks[side]):.0f} MB"
        )
    print(
        f"ratio ours/rembg: {statistics.median(ratios):.2f}x median "
        f"(rounds: {', '.join(f'{r:.2f}' for r in ratios)})"
    )
    for label, values in set_ratios.items():
        print(
            f"  {label:14} {statistics.median(values):.2f}x median "
            f"(rounds: {', '.join(f'{r:.2f}' for r in values)})"
        )
    print(f"mask IoU ours vs rembg: {min(ious):.4f} (worst round)")
    load = os.getloadavg()
    print(f"load average after {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


if __name__ == "__main__":
    main()
