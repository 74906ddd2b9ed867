"""Choosing how to run a model by measuring it: the fastest path whose masks agree.

Which path is fastest depends on the CPU in ways its flags do not tell: OpenVINO's bfloat16
is five times faster than float32 on a Xeon with AMX and twice as slow on one with AVX-512
BF16 alone. So each path is timed on the model's own input and its mask compared with the
float32 reference; the choice is remembered per CPU, model file and onnxruntime version.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw, ImageFilter

log = logging.getLogger(__name__)

T = TypeVar("T")
MIN_IOU = 0.99
CACHE_NAME = "acceleration-choices.json"


@dataclass(frozen=True, slots=True)
class Candidate(Generic[T]):
    """One way to run the model: `load` makes a runnable, `run` gives its mask (0..1)."""

    name: str
    load: Callable[[], T]
    run: Callable[[T], NDArray[np.float32]]


@dataclass(frozen=True, slots=True)
class Trial:
    name: str
    seconds: float | None = None  # the best of the warm runs
    iou: float | None = None  # against the reference's mask (alpha > 0.5)
    refused: str | None = None  # why the path was not eligible


@dataclass(frozen=True, slots=True)
class Choice:
    chosen: str
    trials: tuple[Trial, ...]

    def describe(self) -> str:
        def one(trial: Trial) -> str:
            if trial.seconds is None:
                return f"{trial.name} ({trial.refused})"
            text = f"{trial.name} {trial.seconds:.3f} s"
            if trial.iou is not None:
                text += f" IoU {trial.iou:.4f}"
            return text + (f" ({trial.refused})" if trial.refused else "")

        return f"{self.chosen}; measured: {', '.join(one(trial) for trial in self.trials)}"


def mask_iou(ours: NDArray[np.float32], theirs: NDArray[np.float32]) -> float:
    """IoU of two masks cut at 0.5; two empty masks agree fully."""
    a, b = ours > 0.5, theirs > 0.5
    union = int((a | b).sum())
    return 1.0 if union == 0 else float((a & b).sum() / union)


def choose_fastest(
    candidates: Sequence[Candidate[T]],
    *,
    runs: int = 2,
    min_iou: float = MIN_IOU,
    budget_seconds: float = 60.0,
    clock: Callable[[], float] = time.perf_counter,
    release: Callable[[], None] = lambda: None,
) -> Choice:
    """Time each candidate and choose the fastest whose mask agrees with the first one's.

    The first candidate is the reference (float32 on the CPU provider): always measured and
    chosen when nothing else is both faster and in agreement. Each candidate runs once to
    warm up (that run's mask is the one compared), then once timed, and up to `runs` times
    while `budget_seconds` last; its time is the best, and a run half again as slow as the
    best so far ends its timing. On a machine so loaded that twice the budget is spent, the
    candidates left are skipped: a start stays bounded. One candidate is loaded at a time and
    dropped (then `release` called) before the next, so calibrating costs no more memory
    than running; the caller loads the chosen one.

    Raises:
        Exception: whatever loading or running the reference raises; the others' failures
            are recorded as refusals instead.
    """
    started = clock()
    trials: list[Trial] = []
    best: tuple[str, float] | None = None
    reference: NDArray[np.float32] | None = None
    for position, candidate in enumerate(candidates):
        if position and clock() - started > 2 * budget_seconds:
            trials.append(Trial(candidate.name, refused="skipped: calibration time spent"))
            continue
        try:
            mask, seconds = _measure(candidate, runs, best, started + budget_seconds, clock)
        except Exception as error:  # a path that cannot run here is simply not chosen
            if reference is None:
                raise
            log.warning("%s cannot run here: %s", candidate.name, error)
            trials.append(Trial(candidate.name, refused=f"failed: {error}"))
            continue
        finally:
            release()
        if reference is None:
            reference = mask
            trials.append(Trial(candidate.name, seconds))
            best = (candidate.name, seconds)
            continue
        iou = mask_iou(mask, reference)
        if iou < min_iou:
            trials.append(Trial(candidate.name, seconds, iou, f"mask disagrees, IoU < {min_iou}"))
            continue
        trials.append(Trial(candidate.name, seconds, iou))
        assert best is not None
        if seconds < best[1]:
            best = (candidate.name, seconds)
    if best is None:
        raise ValueError("no candidates to calibrate")
    return Choice(best[0], tuple(trials))


def _measure(
    candidate: Candidate[T],
    runs: int,
    best: tuple[str, float] | None,
    deadline: float,
    clock: Callable[[], float],
) -> tuple[NDArray[np.float32], float]:
    """The candidate's mask (from its warm-up run) and its best timed run, in seconds."""
    runnable = candidate.load()
    mask = candidate.run(runnable)
    seconds = float("inf")
    for run in range(runs):
        if run and clock() > deadline:
            break  # one timed run each, more only while the budget lasts
        begun = clock()
        candidate.run(runnable)
        seconds = min(seconds, clock() - begun)
        if best is not None and seconds > 1.5 * best[1]:
            break  # clearly slower: more runs would not change the choice
    return mask, seconds


def probe_image(size: int) -> Image.Image:
    """A fixed picture with one clear subject: a lit object with a shadow on a textured floor."""
    side = 768
    rng = np.random.default_rng(20240601)
    ramp = np.linspace(150, 215, side, dtype=np.float32)[:, np.newaxis, np.newaxis]
    floor = ramp + rng.normal(0.0, 9.0, (side, side, 3)).astype(np.float32)
    tint = np.asarray([1.0, 0.97, 0.9], np.float32)
    image = Image.fromarray(np.clip(floor * tint, 0, 255).astype(np.uint8), "RGB")
    image = image.filter(ImageFilter.GaussianBlur(1.5))
    draw = ImageDraw.Draw(image)
    draw.ellipse((250, 560, 560, 640), fill=(110, 105, 98))  # shadow
    draw.rounded_rectangle((270, 210, 500, 600), radius=40, fill=(190, 40, 35))  # body
    draw.ellipse((270, 170, 500, 250), fill=(215, 60, 50))  # rim
    draw.arc((440, 280, 580, 480), 270, 90, fill=(190, 40, 35), width=28)  # handle
    draw.rectangle((300, 260, 330, 560), fill=(230, 110, 100))  # highlight
    return image.resize((size, size), Image.Resampling.BILINEAR)


def cpu_identity(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """The CPU's model name and a digest of its flags: VMs often report a bare "Xeon"."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return f"unknown {os.uname().machine}"
    lines = text.splitlines()

    def field(label: str) -> str:
        return next((line.split(":", 1)[1] for line in lines if line.startswith(label)), "")

    name, flags = field("model name").strip(), field("flags")
    digest = hashlib.sha256(" ".join(sorted(flags.split())).encode()).hexdigest()[:12]
    return f"{name or os.uname().machine} flags:{digest} cpus:{os.cpu_count()}"


def file_stamp(path: Path) -> str:
    """A cheap identity of a model file: its size and modification time."""
    stat = path.stat()
    return f"{path.name}:{stat.st_size}:{stat.st_mtime_ns}"


class ChoiceCache:
    """Choices kept as JSON in the first writable folder of `folders`.

    MODELS_DIR comes first so that every process of a deployment shares one calibration; it
    may be read-only (a mounted volume), hence the fallbacks; the caller keeps the choice in
    memory besides. Never raises for storage.
    """

    def __init__(self, folders: Sequence[Path]) -> None:
        self.folders = list(folders)

    def read(self, key: str) -> str | None:
        for folder in self.folders:
            entry = _read_entries(folder / CACHE_NAME).get(key)
            if isinstance(entry, dict) and isinstance(entry.get("chosen"), str):
                return str(entry["chosen"])
        return None

    def write(self, key: str, choice: Choice) -> Path | None:
        """Record `choice`; the file it went to, or None when no folder could take it."""
        entry: dict[str, object] = {
            "chosen": choice.chosen,
            "seconds": {t.name: t.seconds for t in choice.trials if t.seconds is not None},
            "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        for folder in self.folders:
            path = folder / CACHE_NAME
            try:
                folder.mkdir(parents=True, exist_ok=True)
                if not _writable(folder):
                    continue
                entries = _read_entries(path) | {key: entry}
                partial = path.with_name(f".{CACHE_NAME}.{os.getpid()}.part")
                partial.write_text(json.dumps(entries, indent=1, sort_keys=True))
                partial.replace(path)
                return path
            except OSError as error:
                log.info("cannot keep the acceleration choice in %s: %s", folder, error)
        return None


def _writable(folder: Path) -> bool:
    """Whether to write into `folder`: a folder marked read-only is left alone even by root."""
    return os.access(folder, os.W_OK) and bool(folder.stat().st_mode & 0o222)


def _read_entries(path: Path) -> dict[str, object]:
    try:
        loaded = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return loaded if isinstance(loaded, dict) else {}
