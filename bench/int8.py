"""8-bit ISNet: is it faster than float32 here, and do its masks hold? Run by hand.

    .venv/bin/python bench/int8.py --limit 8
    .venv/bin/python bench/int8.py --limit 8 --keep /srv/models/isnet-imgly-medium.int8.onnx

Variants, each against onnxruntime float32 on the CPU provider (the reference) and OpenVINO
bfloat16 where this CPU has bfloat16:
- `small`: ../shared/models/isnet-imgly-small.onnx, the imgly export's own dynamic
  quantisation (ConvInteger, uint8 weights);
- `dynamic`: onnxruntime's `quantize_dynamic` of the prepared float model, per channel;
- `static-qdq`: onnxruntime's `quantize_static` in QDQ format, int8 weights per channel and
  uint8 activations calibrated on a few composites, which the CPU provider runs as QLinearConv
  on VNNI where the CPU has it.

For each: best inference seconds of a 1024x1024 run (2 runs after a warm-up, on `--threads`),
and on both shared sets (composites, matting-synth; `--limit` images each) the IoU (alpha >
0.5) and the SAD (sum of absolute alpha differences over the image, in thousands, as matting
papers report it) of its masks against the float32 masks, mean and worst. A variant is worth
configuring (`--keep` writes it where AUTO's calibration picks it up: `<model>.int8.onnx`
beside the model) only where it is faster than every float path and holds (IoU >= 0.99).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnxruntime as ort
from onnxruntime.quantization import CalibrationDataReader
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.photos import COMPOSITES, MATTING, SHARED, shared_images
from services.engines.onnx_local import (
    MODELS,
    Acceleration,
    _open_session,
    _probability,
    cpu_has_native_bf16,
    prepare_model,
)

SPEC = MODELS["isnet-imgly-medium"]


class Composites(CalibrationDataReader):  # type: ignore[misc]
    """The model's inputs for a few composites: what static quantisation calibrates on."""

    def __init__(self, feeds: list[np.ndarray]) -> None:
        self.feeds: Iterator[np.ndarray] = iter(feeds)

    def get_next(self) -> dict[str, np.ndarray] | None:
        feed = next(self.feeds, None)
        return None if feed is None else {"input": feed}


def model_input(path: Path) -> np.ndarray:
    image = (
        Image.open(path).convert("RGB").resize((SPEC.size, SPEC.size), Image.Resampling.BILINEAR)
    )
    pixels = (np.asarray(image, np.float32) - 128.0) / 256.0
    return pixels.transpose(2, 0, 1)[np.newaxis].copy()


def masks(session: ort.InferenceSession, feeds: list[np.ndarray]) -> list[np.ndarray]:
    name = session.get_outputs()[0].name
    return [_probability(SPEC, session.run([name], {"input": feed})[0]) for feed in feeds]


def best_seconds(session: ort.InferenceSession, feed: np.ndarray) -> float:
    name = session.get_outputs()[0].name
    session.run([name], {"input": feed})
    times = []
    for _ in range(2):
        started = time.perf_counter()
        session.run([name], {"input": feed})
        times.append(time.perf_counter() - started)
    return min(times)


def agreement(
    ours: list[np.ndarray], reference: list[np.ndarray]
) -> tuple[list[float], list[float]]:
    ious, sads = [], []
    for a, b in zip(ours, reference, strict=True):
        x, y = a > 0.5, b > 0.5
        union = (x | y).sum()
        ious.append(1.0 if union == 0 else float((x & y).sum() / union))
        sads.append(float(np.abs(a - b).sum()) / 1000)
    return ious, sads


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--limit", type=int, default=8, help="images of each set")
    parser.add_argument("--calibration-images", type=int, default=4)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--variants", nargs="+", default=["small", "dynamic", "static-qdq"])
    parser.add_argument("--keep", type=Path, help="write the static-qdq file here")
    args = parser.parse_args()
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_dynamic, quantize_static

    load = os.getloadavg()
    print(f"{os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    sets = {
        "composites": shared_images(COMPOSITES)[: args.limit],
        "matting-synth": shared_images(MATTING)[: args.limit],
    }
    feeds = {label: [model_input(path) for path in paths] for label, paths in sets.items()}
    probe = feeds["composites"][0]
    scratch = Path(tempfile.mkdtemp(prefix="bench-int8-"))
    source = SHARED / "models" / SPEC.filename
    float_model = scratch / "float.onnx"
    prepare_model(source, SPEC.output, float_model)

    def session(path: Path, acceleration: Acceleration) -> ort.InferenceSession:
        return _open_session(path, path.name, args.threads, acceleration)

    reference = session(float_model, Acceleration.CPU)
    print(f"float32 CPU provider: {best_seconds(reference, probe):.3f} s per 1024 px run")
    truth = {label: masks(reference, values) for label, values in feeds.items()}
    del reference
    if cpu_has_native_bf16() and "OpenVINOExecutionProvider" in ort.get_available_providers():
        bf16 = session(float_model, Acceleration.OPENVINO_BF16)
        print(f"bfloat16 OpenVINO:    {best_seconds(bf16, probe):.3f} s per 1024 px run")
        report("openvino-bf16", bf16, feeds, truth)
        del bf16

    for variant in args.variants:
        path = scratch / f"{variant}.onnx"
        started = time.perf_counter()
        if variant == "small":
            prepare_model(SHARED / "models" / "isnet-imgly-small.onnx", SPEC.output, path)
        elif variant == "dynamic":
            quantize_dynamic(float_model, path, per_channel=True, weight_type=QuantType.QUInt8)
        else:
            calibration = feeds["composites"][: args.calibration_images]
            quantize_static(
                float_model,
                path,
                Composites(calibration),
                quant_format=QuantFormat.QDQ,
                per_channel=True,
                activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8,
                extra_options={"ActivationSymmetric": False, "WeightSymmetric": True},
            )
        made = time.perf_counter() - started
        runner = session(path, Acceleration.INT8)
        print(
            f"{variant}: {best_seconds(runner, probe):.3f} s per 1024 px run (made in {made:.0f} s)"
        )
        report(variant, runner, feeds, truth)
        if variant == "static-qdq" and args.keep:
            shutil.copyfile(path, args.keep)
            print(f"  kept as {args.keep}")
        del runner
    shutil.rmtree(scratch)


def report(
    name: str,
    runner: ort.InferenceSession,
    feeds: dict[str, list[np.ndarray]],
    truth: dict[str, list[np.ndarray]],
) -> None:
    for label, values in feeds.items():
        ious, sads = agreement(masks(runner, values), truth[label])
        print(
            f"  {name} vs float32 on {label} ({len(values)}): IoU mean {statistics.mean(ious):.4f} "
            f"worst {min(ious):.4f}; SAD mean {statistics.mean(sads):.2f}k worst {max(sads):.2f}k"
        )


if __name__ == "__main__":
    main()
