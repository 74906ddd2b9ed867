"""Local segmentation with onnxruntime: per-model preprocessing, one session per model file."""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import logging
import multiprocessing
import os
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import onnxruntime as ort
from numpy.typing import NDArray
from PIL import Image

from services.engines.base import Mask, ModelMissing
from services.engines.calibration import (
    Candidate,
    Choice,
    ChoiceCache,
    choose_fastest,
    cpu_identity,
    file_stamp,
    probe_image,
)

if TYPE_CHECKING:
    from onnx import GraphProto

log = logging.getLogger(__name__)


class Scaling(StrEnum):
    MAX = "max"  # divide by the image's own maximum, as rembg's sessions do
    UNIT = "unit"  # divide by 255
    CENTRED = "centred"  # (p - 128) / 256, as the imgly IS-Net export expects


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """How one model file wants its input and gives its output."""

    name: str
    filename: str
    size: int
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)
    scaling: Scaling = Scaling.MAX
    channels_last: bool = False
    output: str | int = 0  # an output name, or the index of the output to read
    sigmoid: bool = False
    min_max: bool = True
    commercial_use: bool = True
    # Where `bgbot models download` fetches the official weights, and their pinned digest
    # ("md5:<hex>" or "sha256:<hex>"); None where the file has no official single download.
    url: str | None = None
    checksum: str | None = None
    # Rewrite the graph on load (see `prepare_model`). Off for the BiRefNet files: they are
    # 0.2 to 0.9 GB of float32 with nothing to prune or widen, and parsing one just to find
    # that out would double the memory a worker needs at start.
    prepare: bool = True
    # False where OpenVINO cannot load the graph (the int8 ISNet's ConvInteger nodes: "the
    # graph is not acyclic"); such a model always runs on onnxruntime's CPU provider.
    openvino: bool = True


IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
HALF = (0.5, 0.5, 0.5)

_REMBG_RELEASE = "https://github.com/danielgatis/rembg/releases/download/v0.0.0/"

MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            "u2net",
            "u2net.onnx",
            320,
            IMAGENET_MEAN,
            IMAGENET_STD,
            url=_REMBG_RELEASE + "u2net.onnx",
            checksum="md5:60024c5c889badc19c04ad937298a77b",
        ),
        ModelSpec(
            "u2netp",
            "u2netp.onnx",
            320,
            IMAGENET_MEAN,
            IMAGENET_STD,
            url=_REMBG_RELEASE + "u2netp.onnx",
            checksum="md5:8e83ca70e441ab06c318d82300c84806",
        ),
        ModelSpec(
            "isnet-general-use",
            "isnet-general-use.onnx",
            1024,
            HALF,
            url=_REMBG_RELEASE + "isnet-general-use.onnx",
            checksum="md5:fc16ebd8b0c10d971d3513d564d01e29",
        ),
        ModelSpec(
            "birefnet-general",
            "BiRefNet-general-epoch_244.onnx",
            1024,
            IMAGENET_MEAN,
            IMAGENET_STD,
            sigmoid=True,
            prepare=False,
            url=_REMBG_RELEASE + "BiRefNet-general-epoch_244.onnx",
            checksum="md5:7a35a0141cbbc80de11d9c9a28f52697",
        ),
        ModelSpec(
            "birefnet-general-lite",
            "BiRefNet-general-bb_swin_v1_tiny-epoch_232.onnx",
            1024,
            IMAGENET_MEAN,
            IMAGENET_STD,
            sigmoid=True,
            prepare=False,
            url=_REMBG_RELEASE + "BiRefNet-general-bb_swin_v1_tiny-epoch_232.onnx",
            checksum="md5:4fab47adc4ff364be1713e97b7e66334",
        ),
        ModelSpec(
            "birefnet-portrait",
            "BiRefNet-portrait-epoch_150.onnx",
            1024,
            IMAGENET_MEAN,
            IMAGENET_STD,
            sigmoid=True,
            prepare=False,
            url=_REMBG_RELEASE + "BiRefNet-portrait-epoch_150.onnx",
            checksum="md5:c3a64a6abf20250d090cd055f12a3b67",
        ),
        # BRIA's licence forbids commercial use without an agreement; see README. No digest
        # is pinned: the download checks the SHA-256 Hugging Face declares for the file.
        ModelSpec(
            "rmbg-1.4",
            "bria-rmbg-1.4.onnx",
            1024,
            HALF,
            commercial_use=False,
            url="https://huggingface.co/briaai/RMBG-1.4/resolve/main/onnx/model.onnx",
        ),
        # The files below have no official single download (see ../shared/models): an
        # operator places them in MODELS_DIR by hand.
        ModelSpec(
            "isnet-imgly-medium",
            "isnet-imgly-medium.onnx",
            1024,
            scaling=Scaling.CENTRED,
            output="output",
            min_max=False,
        ),
        ModelSpec(
            "isnet-imgly-small",
            "isnet-imgly-small.onnx",
            1024,
            scaling=Scaling.CENTRED,
            output="output",
            min_max=False,
            openvino=False,
        ),
        ModelSpec(
            "selfie-segmentation",
            "selfie_segmentation.onnx",
            256,
            scaling=Scaling.UNIT,
            channels_last=True,
            output=0,
            min_max=False,
        ),
    )
}


def default_threads() -> int:
    return os.cpu_count() or 1


_sessions: dict[tuple[Path, int, str | int, bool, str], ort.InferenceSession] = {}
_sessions_lock = threading.Lock()
# AUTO's measured choice per calibration key (see `OnnxEngine._measured_acceleration`).
_choices: dict[str, Acceleration] = {}
CALIBRATION_BUDGET_SECONDS = 30.0
# Measure in a child process (see `OnnxEngine._calibrate`); tests with stand-in sessions off.
CALIBRATE_IN_CHILD = True


class CpuBudget:
    """The process's CPUs shared by the runs in flight, whatever model each run belongs to.

    The worker pool may hand several images to one engine at once, and several engines (the
    tiers' models, refinement steps) may run at once. Each run spreads over its `threads`
    cores, so runs beyond what the CPUs hold only add contention, and each adds a full set of
    activations (about 0.5 GB for a 1024 px model) to the peak memory. A run waits here until
    its threads fit, so a 2-thread and a 1-thread model on 2 cores take turns rather than
    oversubscribing, and the other worker threads decode and encode meanwhile.
    """

    def __init__(self, cpus: int) -> None:
        self.cpus = cpus
        self._free = cpus
        self._changed = threading.Condition()

    @contextmanager
    def hold(self, threads: int) -> Iterator[None]:
        need = min(max(threads, 1), self.cpus)
        with self._changed:
            self._changed.wait_for(lambda: self._free >= need)
            self._free -= need
        try:
            yield
        finally:
            with self._changed:
                self._free += need
                self._changed.notify_all()


# One per process, made at import: the CPU count is a fact of the machine, not a setting.
_budget = CpuBudget(default_threads())


def cpu_budget() -> CpuBudget:
    return _budget


def run_gate(threads: int) -> AbstractContextManager[None]:
    """Wait until a run of `threads` threads fits in the process's CPUs (see `CpuBudget`)."""
    return cpu_budget().hold(threads)


def prepare_model(path: Path, output: str | int, destination: Path) -> bool:
    """Write a cheaper to run copy of the model at `path` to `destination`, if there is one.

    Two rewrites, neither of which changes what the used output means:
    - onnxruntime computes every node of a graph whichever outputs a run asks for, so the
      graph is cut down to the nodes `output` needs (IS-Net has five upsampled side heads);
    - a float16 model (the imgly IS-Net export) runs on x86 CPUs in float32 anyway, with a
      Cast around every operator and both copies of the weights held; widening it once here
      removes those casts and halves the memory a run needs.

    Returns False, writing nothing, when neither rewrite applies.
    """
    import onnx

    model = onnx.load(str(path))
    graph = model.graph
    pruned = _prune(graph, output)
    widened = _widen_float16(graph)
    if pruned or widened:
        # The weights go to a file of their own, tensor by tensor, so no serialized copy of
        # the whole model is ever held next to the model itself.
        onnx.save(
            model,
            str(destination),
            save_as_external_data=True,
            all_tensors_to_one_file=True,
            location=destination.name + ".weights",
            size_threshold=1024,
        )
    return pruned or widened


def _prune(graph: GraphProto, output: str | int) -> bool:
    if len(graph.output) < 2:
        return False
    if any(attribute.g.node or attribute.graphs for n in graph.node for attribute in n.attribute):
        return False  # subgraphs read outer names implicitly; leave such models whole
    keep = output if isinstance(output, str) else graph.output[output].name
    producers = {name: node for node in graph.node for name in node.output}
    needed: set[int] = set()
    pending = [keep]
    while pending:
        node = producers.get(pending.pop())
        if node is not None and id(node) not in needed:
            needed.add(id(node))
            pending.extend(node.input)
    nodes = [node for node in graph.node if id(node) in needed]
    used = {name for node in nodes for name in node.input}
    initializers = [tensor for tensor in graph.initializer if tensor.name in used]
    outputs = [value for value in graph.output if value.name == keep]
    del graph.node[:], graph.initializer[:], graph.output[:]
    graph.node.extend(nodes)
    graph.initializer.extend(initializers)
    graph.output.extend(outputs)
    return True


def _widen_float16(graph: GraphProto) -> bool:
    from onnx import AttributeProto, TensorProto, numpy_helper

    def widen(tensor: TensorProto) -> bool:
        if tensor.data_type != TensorProto.FLOAT16:
            return False
        values = numpy_helper.to_array(tensor).astype(np.float32)
        tensor.CopyFrom(numpy_helper.from_array(values, tensor.name))
        return True

    changed = [widen(tensor) for tensor in graph.initializer]
    for node in graph.node:
        for attribute in node.attribute:
            if attribute.type == AttributeProto.TENSOR:
                changed.append(widen(attribute.t))
            elif (node.op_type, attribute.name, attribute.i) == ("Cast", "to", TensorProto.FLOAT16):
                attribute.i = TensorProto.FLOAT
                changed.append(True)
    for value in (*graph.value_info, *graph.input, *graph.output):
        if value.type.tensor_type.elem_type == TensorProto.FLOAT16:
            value.type.tensor_type.elem_type = TensorProto.FLOAT
            changed.append(True)
    return any(changed)


def _release_freed_memory() -> None:
    """Hand the heap the model's preparation freed back to the system (glibc keeps it)."""
    name = ctypes.util.find_library("c")
    libc = ctypes.CDLL(name) if name else None
    if libc is not None and hasattr(libc, "malloc_trim"):
        libc.malloc_trim(0)


class Acceleration(StrEnum):
    """How onnxruntime runs the models (ONNX_ACCELERATION)."""

    AUTO = "auto"  # the fastest of the others whose masks agree with float32, measured
    CPU = "cpu"  # onnxruntime's own CPU kernels, float32
    OPENVINO = "openvino"  # the OpenVINO execution provider, float32
    OPENVINO_BF16 = "openvino-bf16"  # the OpenVINO execution provider, bfloat16 arithmetic
    INT8 = "int8"  # an 8-bit copy placed beside the model (see `int8_path`), CPU provider


OPENVINO = "OpenVINOExecutionProvider"
CPU = "CPUExecutionProvider"
Providers = list[str | tuple[str, dict[str, str]]]


def cpu_has_native_bf16(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """Whether the CPU computes bfloat16 in hardware at all (AMX or AVX-512 BF16).

    That makes OpenVINO's bfloat16 worth measuring, not necessarily fast: with AVX-512 BF16
    alone it can be slower than float32, hence `OnnxEngine`'s calibration.
    """
    try:
        text = cpuinfo.read_text()
    except OSError:
        return False
    flags = next((line for line in text.splitlines() if line.startswith("flags")), "").split()
    return "amx_bf16" in flags or "avx512_bf16" in flags


def int8_path(path: Path) -> Path:
    """Where an operator places the 8-bit copy of a model: `<name>.int8.onnx` beside it."""
    return path.with_name(f"{path.stem}.int8.onnx")


def resolve_acceleration(
    wanted: Acceleration, *, available: list[str], native_bf16: bool, int8: bool = False
) -> list[Acceleration]:
    """The paths to consider, float32 on the CPU provider first: AUTO measures all of them.

    An explicit acceleration is the only one considered, whatever the CPU. Without the
    OpenVINO provider installed (a platform without its wheel) no OpenVINO path is offered,
    without hardware bfloat16 OpenVINO's bfloat16 (emulated, slow) is not, and int8 only
    where its file is configured.
    """
    if wanted is not Acceleration.AUTO:
        return [wanted]
    candidates = [Acceleration.CPU]
    if OPENVINO in available:
        if native_bf16:
            candidates.append(Acceleration.OPENVINO_BF16)
        candidates.append(Acceleration.OPENVINO)
    if int8:
        candidates.append(Acceleration.INT8)
    return candidates


def execution_providers(acceleration: Acceleration, threads: int) -> Providers:
    """onnxruntime's provider list for `acceleration` (never AUTO), CPU last as the fallback."""
    if acceleration in {Acceleration.CPU, Acceleration.INT8}:
        return [CPU]
    precision = "bf16" if acceleration is Acceleration.OPENVINO_BF16 else "f32"
    # Pinning puts two sessions of one machine on the same core; the OS spreads them better.
    config = {"CPU": {"INFERENCE_PRECISION_HINT": precision, "ENABLE_CPU_PINNING": "NO"}}
    options = {
        "device_type": "CPU",
        "num_of_threads": str(threads),
        "load_config": json.dumps(config),
    }
    return [(OPENVINO, options), CPU]


@contextmanager
def _prepared(path: Path, output: str | int, prepare: bool) -> Iterator[Path]:
    """The file to load for `path`: a prepared scratch copy (see `prepare_model`) or itself.

    Prepared into a scratch folder, never into MODELS_DIR, which may be read-only; the
    session loads while none of the preparation's copies of the weights is still held.
    """
    with tempfile.TemporaryDirectory(prefix="bgbot-model-") as scratch:
        prepared = Path(scratch) / path.name
        changed = prepare and prepare_model(path, output, prepared)
        _release_freed_memory()
        yield prepared if changed else path


# After each run, hand the CPU arena's free chunks back to the system (onnxruntime's
# `memory.enable_memory_arena_shrinkage`). Without it every session keeps the largest run's
# activations, about 0.5 GB for a 1024 px CPU-provider model, for the life of the process,
# so two tiers' models held 1.5 GB between them. Benchmarks flip it to measure both ways.
SHRINK_ARENA_AFTER_RUN = True


def run_options() -> ort.RunOptions | None:
    """Options for every inference: the arena shrinks after the run (see above), or None."""
    if not SHRINK_ARENA_AFTER_RUN:
        return None
    options = ort.RunOptions()
    options.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")
    return options


def _open_session(
    source: Path, name: str, threads: int, acceleration: Acceleration
) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # Near-zero activations otherwise take the slow denormal path of the CPU.
    options.add_session_config_entry("session.set_denormal_as_zero", "1")
    # The memory pattern reserves one block for all of a run's activations at once:
    # about 400 MB more at the peak of a 1024 px IS-Net run, for no measurable speed.
    # The arena stays: without it every activation is fresh memory from the kernel,
    # and the page faults cost some 15% of the run.
    options.enable_mem_pattern = False
    providers = execution_providers(acceleration, threads)
    session = ort.InferenceSession(str(source), options, providers=providers)
    wanted = providers[0] if isinstance(providers[0], str) else providers[0][0]
    if session.get_providers()[0] != wanted:
        # onnxruntime falls back to the CPU provider silently; say so once.
        log.warning("%s runs on the CPU provider, not %s", name, acceleration)
    return session


def load_session(
    path: Path,
    threads: int,
    output: str | int = 0,
    *,
    prepare: bool = True,
    acceleration: Acceleration = Acceleration.CPU,
) -> ort.InferenceSession:
    """Return the process's one session for a model file, loading it on first use.

    The graph is prepared on load (see `prepare_model`); this takes about a second, once per
    process. INT8 loads the model's 8-bit copy (`int8_path`) instead of the file itself.
    """
    with _sessions_lock:
        return _load_session_locked(path, threads, output, prepare, acceleration)


def _session_key(
    path: Path, threads: int, output: str | int, prepare: bool, acceleration: Acceleration
) -> tuple[Path, int, str | int, bool, str]:
    return (path.resolve(), threads, output, prepare, acceleration)


def _load_session_locked(
    path: Path, threads: int, output: str | int, prepare: bool, acceleration: Acceleration
) -> ort.InferenceSession:
    key = _session_key(path, threads, output, prepare, acceleration)
    session = _sessions.get(key)
    if session is None:
        source = int8_path(path) if acceleration is Acceleration.INT8 else path
        if not source.is_file():
            raise ModelMissing(f"{acceleration} needs the model file {source}, which is missing")
        with _prepared(source, output, prepare) as ready:
            session = _open_session(ready, path.name, threads, acceleration)
        _sessions[key] = session
    return session


def _probability(spec: ModelSpec, raw: object) -> NDArray[np.float32]:
    """A run's output as foreground probability at the model's size (as `mask` reads it)."""
    prediction: NDArray[np.float32] = np.asarray(raw, np.float32).reshape(spec.size, spec.size)
    if spec.sigmoid:
        prediction = (1.0 / (1.0 + np.exp(-prediction))).astype(np.float32)
    if spec.min_max:
        low, high = float(prediction.min()), float(prediction.max())
        prediction = ((prediction - low) / max(high - low, 1e-6)).astype(np.float32)
    return prediction


def measure_paths(
    spec: ModelSpec,
    path: Path,
    threads: int,
    candidates: Sequence[Acceleration],
    feed: NDArray[np.float32],
) -> Choice:
    """Time each path of `candidates` on `feed` and choose (see `choose_fastest`)."""
    with ExitStack() as stack:
        ready = stack.enter_context(_prepared(path, spec.output, spec.prepare))
        ready_int8 = (
            stack.enter_context(_prepared(int8_path(path), spec.output, spec.prepare))
            if Acceleration.INT8 in candidates
            else None
        )

        def loader(acceleration: Acceleration) -> Callable[[], ort.InferenceSession]:
            source = ready_int8 if acceleration is Acceleration.INT8 else ready
            assert source is not None
            return lambda: _open_session(source, path.name, threads, acceleration)

        def run(session: ort.InferenceSession) -> NDArray[np.float32]:
            outputs = session.get_outputs()
            output = spec.output
            name = output if isinstance(output, str) else outputs[output].name
            if len(outputs) == 1:
                name = outputs[0].name
            (raw,) = session.run([name], {session.get_inputs()[0].name: feed})
            return _probability(spec, raw)

        trials = [Candidate(str(a), loader(a), run) for a in candidates]
        return choose_fastest(
            trials, budget_seconds=CALIBRATION_BUDGET_SECONDS, release=_release_freed_memory
        )


class OnnxEngine:
    """A model file in MODELS_DIR run by onnxruntime; the session loads on the first mask.

    With AUTO the first load measures the paths this machine offers (see
    `services.engines.calibration`) and keeps the choice in `cache_dirs` (MODELS_DIR first),
    so it happens once per CPU, model file and onnxruntime version. Loading runs in the
    caller's thread: the workers', never the event loop of the chats.
    """

    def __init__(
        self,
        spec: ModelSpec,
        models_dir: Path,
        threads: int | None = None,
        acceleration: Acceleration = Acceleration.AUTO,
        cache_dirs: Sequence[Path] = (),
    ) -> None:
        self.spec = spec
        self.name = spec.name
        self.path = models_dir / spec.filename
        self.threads = threads or default_threads()
        self.acceleration = acceleration  # AUTO until the first load has measured
        self.choices = ChoiceCache([models_dir, *cache_dirs])

    def session(self) -> ort.InferenceSession:
        if not self.path.is_file():
            raise ModelMissing(
                f"model file {self.path} is missing: run `bgbot models download {self.name}` "
                "or place the file there"
            )
        if self.acceleration is Acceleration.AUTO:
            self.acceleration = self._measured_acceleration()
        return load_session(
            self.path,
            self.threads,
            self.spec.output,
            prepare=self.spec.prepare,
            acceleration=self.acceleration,
        )

    def calibration_key(self, candidates: Sequence[Acceleration]) -> str:
        """What the measured choice depends on: CPU, model files, onnxruntime, threads."""
        int8 = int8_path(self.path)
        parts = [
            cpu_identity(),
            f"onnxruntime {ort.__version__}",
            file_stamp(self.path),
            file_stamp(int8) if Acceleration.INT8 in candidates else "no int8",
            f"output {self.spec.output}",
            f"threads {self.threads}",
            "paths " + ",".join(candidates),
        ]
        return " | ".join(parts)

    def _measured_acceleration(self) -> Acceleration:
        candidates = resolve_acceleration(
            Acceleration.AUTO,
            available=ort.get_available_providers(),
            native_bf16=cpu_has_native_bf16(),
            int8=int8_path(self.path).is_file(),
        )
        if len(candidates) == 1:
            return candidates[0]
        key = self.calibration_key(candidates)
        with _sessions_lock:
            known = _choices.get(key) or self.choices.read(key)
            if known in candidates:
                _choices[key] = Acceleration(known)
                return Acceleration(known)
            choice = self._calibrate(candidates)
            chosen = _choices[key] = Acceleration(choice.chosen)
        kept = self.choices.write(key, choice)
        log.info("%s runs as %s (kept in %s)", self.name, choice.describe(), kept or "memory only")
        return chosen

    def _calibrate(self, candidates: Sequence[Acceleration]) -> Choice:
        feed = self._input(probe_image(self.spec.size))
        # Timings need the CPUs to themselves: no other run of this process meanwhile.
        with cpu_budget().hold(cpu_budget().cpus):
            if not CALIBRATE_IN_CHILD:
                return measure_paths(self.spec, self.path, self.threads, candidates, feed)
            # A child process of its own: the sessions measured and dropped there leave
            # nothing behind in this one (glibc keeps freed heap: the first start peaked at
            # 1.3 GB measuring in place, against 0.9 GB for the chosen path alone), and a
            # provider that crashes on this CPU takes the child down, not the worker.
            spawn = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(1, mp_context=spawn) as child:
                work = child.submit(
                    measure_paths, self.spec, self.path, self.threads, candidates, feed
                )
                return work.result()

    def _input(self, image: Image.Image) -> NDArray[np.float32]:
        spec = self.spec
        # LANCZOS keeps thin structures (lattice towers, strands) that bilinear blurs away:
        # measured on the composites, the rocket's IoU rose from 0.648 to 0.656.
        resized = image.resize((spec.size, spec.size), Image.Resampling.LANCZOS)
        pixels: NDArray[np.float32] = np.asarray(resized, dtype=np.float32)
        if spec.scaling is Scaling.CENTRED:
            pixels = (pixels - np.float32(128.0)) / np.float32(256.0)
        else:
            top = max(float(pixels.max()), 1e-6) if spec.scaling is Scaling.MAX else 255.0
            mean = np.asarray(spec.mean, np.float32)
            std = np.asarray(spec.std, np.float32)
            pixels = (pixels / np.float32(top) - mean) / std
        batch = pixels[np.newaxis]
        return batch if spec.channels_last else batch.transpose(0, 3, 1, 2).copy()

    def mask(self, image: Image.Image) -> Mask:
        """Return the foreground probability of `image`, at its own size."""
        session = self.session()
        spec = self.spec
        output = spec.output
        # The session's graph holds the used output alone when pruning applied, else all.
        name = output if isinstance(output, str) else session.get_outputs()[output].name
        if len(session.get_outputs()) == 1:
            name = session.get_outputs()[0].name
        feed = {session.get_inputs()[0].name: self._input(image)}
        with run_gate(self.threads):
            (raw,) = session.run([name], feed, run_options())
        prediction: NDArray[np.float32] = np.asarray(raw, np.float32).reshape(spec.size, spec.size)
        if spec.sigmoid:
            prediction = (1.0 / (1.0 + np.exp(-prediction))).astype(np.float32)
        if spec.min_max:
            low, high = float(prediction.min()), float(prediction.max())
            prediction = ((prediction - low) / max(high - low, 1e-6)).astype(np.float32)
        small = Image.fromarray(np.clip(prediction, 0.0, 1.0), mode="F")
        full = small.resize(image.size, Image.Resampling.BILINEAR)
        return np.clip(np.asarray(full, dtype=np.float32), 0.0, 1.0)
