"""Worker threads x onnxruntime threads: latency of one image and throughput of a batch.

Run by hand:

    .venv/bin/python bench/threads.py --batch 100
    .venv/bin/python bench/threads.py --layouts 1x2 2x1 2x2 --acceleration cpu

Each layout (`WORKERSxTHREADS`: images cut out at once, as WORKER_THREADS, each inference on
THREADS onnxruntime threads, as ONNX_THREADS) runs in a child process of its own, through
`cut_out` as the workers call it, on the composites and matting-synth images in turn. Latency:
the mean wall time of single images with nothing else running in that process. Throughput:
a batch of `--batch` images handed to the pool at once, in images per minute and CPU seconds
per image, with the child's peak RSS. Layouts take turns within each round, and the order
changes each round, so the machine's load falls on all of them alike.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.photos import COMPOSITES, MATTING, SHARED, shared_images


def child(layout: str, acceleration: str, batch: int, singles: int) -> None:
    from services.engines.onnx_local import MODELS, Acceleration, OnnxEngine
    from services.imaging.compose import OutputOptions
    from services.imaging.cutout import cut_out
    from services.imaging.intake import IntakeLimits

    workers, threads = (int(part) for part in layout.split("x"))
    cache = Path(tempfile.gettempdir()) / "bgbot-bench-choices"
    spec = MODELS["isnet-imgly-medium"]
    engine = OnnxEngine(spec, SHARED / "models", threads, Acceleration(acceleration), [cache])
    engine.session()
    options, limits = OutputOptions(), IntakeLimits()
    pool = [
        p
        for pair in zip(shared_images(COMPOSITES), shared_images(MATTING), strict=False)
        for p in pair
    ]
    images = [pool[n % len(pool)] for n in range(batch)]
    cut_out(images[0], engine, options, limits)  # warm-up
    latencies = []
    for path in images[1 : singles + 1]:
        started = time.perf_counter()
        cut_out(path, engine, options, limits)
        latencies.append(time.perf_counter() - started)
    wall, cpu = time.perf_counter(), time.process_time()
    with ThreadPoolExecutor(workers) as executor:
        list(executor.map(lambda path: cut_out(path, engine, options, limits), images))
    seconds, cpu_seconds = time.perf_counter() - wall, time.process_time() - cpu
    print(
        json.dumps(
            {
                "acceleration": str(engine.acceleration),
                "latency": statistics.mean(latencies),
                "rate": 60 * batch / seconds,
                "cpu_per_image": cpu_seconds / batch,
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--layouts", nargs="+", default=["1x2", "2x1", "2x2"])
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--singles", type=int, default=5, help="images timed one by one")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--acceleration", default="auto")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.acceleration, args.batch, args.singles)
        return
    load = os.getloadavg()
    print(f"{os.cpu_count()} CPUs, load average before {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print(f"batch of {args.batch} images (800x600), {args.acceleration}")
    for number in range(args.rounds):
        order = args.layouts if number % 2 == 0 else args.layouts[::-1]
        for layout in order:
            command = [sys.executable, __file__, "--child", layout, "--batch", str(args.batch)]
            command += ["--singles", str(args.singles), "--acceleration", args.acceleration]
            process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
            assert process.stdout is not None
            line = process.stdout.read()
            _, status, usage = os.wait4(process.pid, 0)
            if os.waitstatus_to_exitcode(status):
                raise SystemExit(f"{layout} failed")
            figures = json.loads(line.strip().splitlines()[-1])
            print(
                f"round {number + 1} {layout} ({figures['acceleration']}): latency "
                f"{figures['latency']:.2f} s, {figures['rate']:.1f} images/min, "
                f"{figures['cpu_per_image']:.2f} CPU s/image, "
                f"peak RSS {usage.ru_maxrss / 1024:.0f} MB"
            )
    load = os.getloadavg()
    print(f"load average after {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


if __name__ == "__main__":
    main()
