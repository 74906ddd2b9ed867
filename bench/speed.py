"""Speed and memory of this engine next to rembg 2.0.86, on the same ONNX file and images.

Run by hand (`pip install -e '.[bench]'` first):

    python bench/speed.py --count 12 --rounds 3
    python bench/speed.py --count 12 --rounds 3 --workers 2 --threads 1

Each side runs in a child process of its own, so each peak RSS is that side's own (the
`wait4` figure of the child). Both go from the file on disk to PNG bytes with alpha, after a
warm-up image outside the timing.

By default the two children take turns image by image (ours, rembg, rembg, ours, ...), each
idle while the other works: a neighbour's load on a shared machine then falls on both sides
alike. With `--workers N` our side instead cuts out N images at once, as the worker pool
does, while rembg goes one by one as its CLI does; the sides then run one after the other,
alternating which goes first each round.

Prints images per minute, CPU seconds per image, peak RSS, the ratio to rembg, and the IoU
of our masks against rembg's (alpha > 127).
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


def _our_cutter(model: Path, threads: int, acceleration: str) -> Callable[[Path], bytes]:
    from services.engines.onnx_local import MODELS, Acceleration, OnnxEngine
    from services.imaging.compose import OutputOptions
    from services.imaging.cutout import cut_out
    from services.imaging.intake import IntakeLimits

    spec = dataclasses.replace(MODELS["isnet-imgly-medium"], filename=model.name)
    engine = OnnxEngine(spec, model.parent, threads, Acceleration(acceleration))
    engine.session()  # load (and prepare) now, so that the load time printed is comparable
    options, limits = OutputOptions(), IntakeLimits()
    return lambda path: cut_out(path, engine, options, limits)


def _resolved(args: argparse.Namespace) -> str:
    import onnxruntime as ort

    from services.engines.onnx_local import Acceleration, cpu_has_native_bf16, resolve_acceleration

    available = ort.get_available_providers()
    wanted = Acceleration(args.acceleration)
    paths = resolve_acceleration(wanted, available=available, native_bf16=cpu_has_native_bf16())
    return ", ".join(paths)


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
    cutter = (
        _our_cutter(args.model, args.threads, args.acceleration)
        if args.child == "ours"
        else _rembg_cutter(args.model)
    )
    print(json.dumps({"load_seconds": time.perf_counter() - started}), flush=True)
    for line in sys.stdin:
        paths = [Path(p) for p in json.loads(line)]
        wall, cpu = time.perf_counter(), time.process_time()
        with ThreadPoolExecutor(max(1, args.workers if args.child == "ours" else 1)) as pool:
            results = list(pool.map(cutter, paths))
        figures = {"seconds": time.perf_counter() - wall, "cpu_seconds": time.process_time() - cpu}
        for path, result in zip(paths, results, strict=True):
            _alpha(result).save(args.masks / f"{path.stem}.png")
        print(json.dumps(figures), flush=True)


class _Child:
    def __init__(self, side: str, args: argparse.Namespace, masks: Path) -> None:
        command = [sys.executable, __file__, "--child", side, "--masks", str(masks)]
        command += ["--model", str(args.model), "--threads", str(args.threads)]
        command += ["--workers", str(args.workers), "--acceleration", args.acceleration]
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=REPO
        )
        self.load_seconds = self._answer()["load_seconds"]
        self.seconds = self.cpu_seconds = 0.0
        self.images = 0
        self.peak = 0.0

    def _answer(self) -> dict[str, float]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise SystemExit(f"a child failed: exit {self.process.wait()}")
        answer: dict[str, float] = json.loads(line)
        return answer

    def cut(self, paths: list[Path], *, timed: bool = True) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps([str(p) for p in paths]) + "\n")
        self.process.stdin.flush()
        figures = self._answer()
        if timed:
            self.seconds += figures["seconds"]
            self.cpu_seconds += figures["cpu_seconds"]
            self.images += len(paths)

    def close(self) -> float:
        """End the child; its peak RSS, in MB."""
        assert self.process.stdin is not None
        self.process.stdin.close()
        _, status, usage = os.wait4(self.process.pid, 0)
        self.process.returncode = os.waitstatus_to_exitcode(status)
        return usage.ru_maxrss / 1024  # kilobytes on Linux

    @property
    def rate(self) -> float:
        return 60 * self.images / self.seconds


def _round(
    args: argparse.Namespace, images: list[Path], scratch: Path, number: int
) -> dict[str, Any]:
    sides = ["rembg", "ours"] if number % 2 == 0 else ["ours", "rembg"]
    masks = {side: scratch / f"{number}-{side}" for side in sides}
    for folder in masks.values():
        folder.mkdir()
    if args.workers > 1:
        children = {}
        for side in sides:
            child = children[side] = _Child(side, args, masks[side])
            child.cut(images[:1], timed=False)
            if side == "ours":
                child.cut(images[1:])
            else:
                for path in images[1:]:
                    child.cut([path])
            child.peak = child.close()
    else:
        children = {side: _Child(side, args, masks[side]) for side in sides}
        for child in children.values():
            child.cut(images[:1], timed=False)
        for position, path in enumerate(images[1:]):
            turn = sides if position % 2 == 0 else sides[::-1]
            for side in turn:
                children[side].cut([path])
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


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--images", type=Path, default=SHARED / "datasets/composites/images")
    parser.add_argument("--model", type=Path, default=SHARED / "models/isnet-imgly-medium.onnx")
    parser.add_argument("--count", type=int, default=12, help="images timed per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="ours, per run")
    parser.add_argument("--workers", type=int, default=1, help="images at once on our side")
    parser.add_argument(
        "--acceleration",
        choices=["auto", "cpu", "openvino", "openvino-bf16"],
        default="auto",
        help="ours, as ONNX_ACCELERATION",
    )
    parser.add_argument("--child", choices=["ours", "rembg"], help=argparse.SUPPRESS)
    parser.add_argument("--masks", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _serve(args)
        return

    # A warm-up image, then `count` timed ones, cycling through the folder.
    pool = sorted(args.images.glob("*.jpg"))
    images = [pool[n % len(pool)] for n in range(args.count + 1)]
    load = os.getloadavg()
    mode = "turn by turn" if args.workers == 1 else f"ours {args.workers} at once, then rembg"
    print(f"{args.count} images per round from {args.images}, model {args.model.name}")
    print(f"{os.cpu_count()} CPUs, load average before {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print(f"ours: {args.threads} onnxruntime thread(s) per run, {_resolved(args)}; {mode}")
    rates: dict[str, list[float]] = {"ours": [], "rembg": []}
    peaks: dict[str, list[float]] = {"ours": [], "rembg": []}
    ious = []
    with tempfile.TemporaryDirectory() as scratch:
        for number in range(args.rounds):
            result = _round(args, images, Path(scratch), number)
            for side in ("rembg", "ours"):
                child = result["children"][side]
                rates[side].append(child.rate)
                peaks[side].append(child.peak)
                print(
                    f"round {number + 1} {side:5}: {child.rate:5.1f} images/min, "
                    f"{child.cpu_seconds / child.images:.2f} CPU s/image, "
                    f"peak RSS {child.peak:.0f} MB, load {child.load_seconds:.1f} s"
                )
            ious.append(result["iou"])
    ratios = [o / r for o, r in zip(rates["ours"], rates["rembg"], strict=True)]
    print()
    for side in ("rembg", "ours"):
        print(
            f"{side:5}: {statistics.median(rates[side]):.1f} images/min median "
            f"(min {min(rates[side]):.1f}, max {max(rates[side]):.1f}), "
            f"peak RSS {max(peaks[side]):.0f} MB"
        )
    print(
        f"ratio ours/rembg: {statistics.median(ratios):.2f}x median "
        f"(rounds: {', '.join(f'{r:.2f}' for r in ratios)})"
    )
    print(f"mask IoU ours vs rembg: {min(ious):.4f} (worst round)")
    load = os.getloadavg()
    print(f"load average after {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


if __name__ == "__main__":
    main()
