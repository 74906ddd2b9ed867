"""AUTO's measured choice: fastest agreeing path, fake providers with known timings, its cache."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

from services.engines import onnx_local
from services.engines.calibration import (
    CACHE_NAME,
    Candidate,
    Choice,
    ChoiceCache,
    Trial,
    choose_fastest,
    mask_iou,
)
from services.engines.onnx_local import Acceleration, CpuBudget, ModelSpec, OnnxEngine, Scaling

SUBJECT = np.zeros((8, 8), np.float32)
SUBJECT[2:6, 2:6] = 0.9
ELSEWHERE = np.zeros((8, 8), np.float32)
ELSEWHERE[0:3, 5:8] = 0.9


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _fake(clock: FakeClock, name: str, seconds: float, mask: np.ndarray) -> Candidate[str]:
    """A provider whose every run takes `seconds` of the fake clock and answers `mask`."""

    def run(loaded: str) -> np.ndarray:
        clock.now += seconds
        return mask

    return Candidate(name, lambda: f"session of {name}", run)


def test_the_fastest_path_whose_mask_agrees_is_chosen():
    clock = FakeClock()
    candidates = [
        _fake(clock, "cpu", 1.2, SUBJECT),
        _fake(clock, "openvino-bf16", 0.25, SUBJECT),
        _fake(clock, "openvino", 0.9, SUBJECT),
    ]

    choice = choose_fastest(candidates, clock=clock)

    assert choice.chosen == "openvino-bf16"
    assert [trial.seconds for trial in choice.trials] == pytest.approx([1.2, 0.25, 0.9])
    assert "openvino-bf16 0.250 s" in choice.describe()


def test_a_faster_path_whose_mask_disagrees_is_refused():
    clock = FakeClock()
    candidates = [
        _fake(clock, "cpu", 1.2, SUBJECT),
        _fake(clock, "int8", 0.1, ELSEWHERE),
        _fake(clock, "openvino", 0.9, SUBJECT),
    ]

    choice = choose_fastest(candidates, clock=clock)

    assert choice.chosen == "openvino"
    int8 = choice.trials[1]
    assert int8.iou is not None and int8.iou < 0.99
    assert int8.refused is not None and "disagrees" in int8.refused


def test_float32_stays_when_nothing_is_faster_and_a_broken_path_is_only_recorded():
    clock = FakeClock()

    def broken() -> str:
        raise RuntimeError("provider not built for this CPU")

    candidates = [
        _fake(clock, "cpu", 0.5, SUBJECT),
        Candidate("openvino", broken, lambda loaded: SUBJECT),
        _fake(clock, "openvino-bf16", 2.0, SUBJECT),
    ]

    choice = choose_fastest(candidates, clock=clock)

    assert choice.chosen == "cpu"
    assert choice.trials[1].refused == "failed: provider not built for this CPU"


def test_paths_after_the_time_budget_are_skipped():
    clock = FakeClock()
    candidates = [
        _fake(clock, "cpu", 25.0, SUBJECT),
        _fake(clock, "openvino-bf16", 6.0, SUBJECT),
        _fake(clock, "openvino", 0.1, SUBJECT),
    ]

    choice = choose_fastest(candidates, clock=clock, budget_seconds=30.0)

    # One warm and one timed run of each while the budget lasts, none after twice the budget.
    assert choice.chosen == "openvino-bf16"
    assert clock.now == pytest.approx(2 * 25.0 + 2 * 6.0)
    assert choice.trials[2].refused == "skipped: calibration time spent"


def test_two_empty_masks_agree_and_iou_counts_pixels_over_one_half():
    assert mask_iou(np.zeros((4, 4), np.float32), np.zeros((4, 4), np.float32)) == 1.0
    assert mask_iou(SUBJECT, SUBJECT) == 1.0
    assert mask_iou(SUBJECT, ELSEWHERE) == pytest.approx(1 / 24)


def _tiny_model(path: Path) -> ModelSpec:
    """A 16 px 'segmentation' model: the sigmoid of the mean channel, shaped [1, 1, 16, 16]."""
    source = helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 16, 16])
    result = helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 1, 16, 16])
    graph = helper.make_graph(
        [
            helper.make_node("ReduceMean", ["input"], ["mean"], axes=[1], keepdims=1),
            helper.make_node("Sigmoid", ["mean"], ["output"]),
        ],
        "tiny",
        [source],
        [result],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return ModelSpec("tiny", path.name, 16, scaling=Scaling.UNIT, min_max=False)


@pytest.fixture
def fake_machine(monkeypatch: pytest.MonkeyPatch) -> list[Acceleration]:
    """A machine offering OpenVINO and bfloat16, whose sessions are all onnxruntime's CPU one.

    Returns the list of sessions opened, by acceleration.
    """
    opened: list[Acceleration] = []
    real_open = onnx_local._open_session

    def open_session(source, name, threads, acceleration):
        opened.append(acceleration)
        return real_open(source, name, threads, Acceleration.CPU)

    monkeypatch.setattr(onnx_local, "_open_session", open_session)
    monkeypatch.setattr(
        ort,
        "get_available_providers",
        lambda: ["OpenVINOExecutionProvider", "CPUExecutionProvider"],
    )
    monkeypatch.setattr(onnx_local, "cpu_has_native_bf16", lambda: True)
    monkeypatch.setattr(onnx_local, "_choices", {})
    # The stand-in sessions exist in this process only: measure here, not in a child.
    monkeypatch.setattr(onnx_local, "CALIBRATE_IN_CHILD", False)
    monkeypatch.setattr(onnx_local, "_sessions", {})
    return opened


def test_the_second_start_reads_the_choice_instead_of_measuring(tmp_path, fake_machine):
    models = tmp_path / "models"
    models.mkdir()
    spec = _tiny_model(models / "tiny.onnx")

    # Given a first start that measured every path and kept its choice in MODELS_DIR
    first = OnnxEngine(spec, models, 1)
    first.session()
    measured = first.acceleration
    # Each path opened once to be measured, then the chosen one for good.
    assert fake_machine[:3] == [Acceleration.CPU, Acceleration.OPENVINO_BF16, Acceleration.OPENVINO]
    assert fake_machine[3:] == [measured]
    assert (models / CACHE_NAME).is_file()

    # When a new process (no memory of the choice) starts on the same machine
    fake_machine.clear()
    onnx_local._choices.clear()
    onnx_local._sessions.clear()
    second = OnnxEngine(spec, models, 1)
    second.session()

    # Then it loads the chosen path alone, without measuring
    assert second.acceleration is measured
    assert fake_machine == [measured]


def test_a_changed_model_file_is_measured_again(tmp_path, fake_machine):
    spec = _tiny_model(tmp_path / "tiny.onnx")
    OnnxEngine(spec, tmp_path, 1).session()
    onnx_local._choices.clear()
    onnx_local._sessions.clear()
    fake_machine.clear()

    _tiny_model(tmp_path / "tiny.onnx")
    (tmp_path / "tiny.onnx").touch()
    OnnxEngine(spec, tmp_path, 1).session()

    assert len(fake_machine) == 3 + 1


def test_an_explicit_acceleration_is_used_without_measuring(tmp_path, fake_machine):
    spec = _tiny_model(tmp_path / "tiny.onnx")

    engine = OnnxEngine(spec, tmp_path, 1, Acceleration.OPENVINO)
    engine.session()

    assert fake_machine == [Acceleration.OPENVINO]
    assert not (tmp_path / CACHE_NAME).exists()


def test_a_read_only_models_dir_keeps_the_choice_in_data_dir_or_memory(tmp_path):
    read_only, data = tmp_path / "models", tmp_path / "data"
    read_only.mkdir()
    read_only.chmod(0o555)
    choice = Choice("openvino", (Trial("cpu", 1.0), Trial("openvino", 0.5, 1.0)))
    try:
        assert ChoiceCache([read_only, data]).write("key", choice) == data / CACHE_NAME
        assert ChoiceCache([read_only, data]).read("key") == "openvino"
        data.chmod(0o555)
        assert ChoiceCache([read_only, data]).write("other", choice) is None
    finally:
        read_only.chmod(0o755)
        data.chmod(0o755)
    assert not (read_only / CACHE_NAME).exists()


def test_runs_of_several_models_never_hold_more_threads_than_the_cpus():
    budget = CpuBudget(2)
    started = threading.Event()

    def one_thread_run() -> None:
        with budget.hold(1):
            started.set()

    with budget.hold(2):
        other = threading.Thread(target=one_thread_run)
        other.start()
        # The 1-thread run of another model waits while a 2-thread run holds both CPUs.
        assert not started.wait(0.2)
    assert started.wait(10)
    other.join()
    with budget.hold(1), budget.hold(1):
        pass  # two 1-thread runs fit at once


def test_a_real_calibration_runs_in_a_child_process_and_chooses_a_path(tmp_path):
    # Given the tiny model and this machine's real providers, measured in a child process
    spec = _tiny_model(tmp_path / "tiny.onnx")
    engine = OnnxEngine(spec, tmp_path, 1)

    engine.session()

    # Then some path this machine offers is chosen and kept (which one is the machine's)
    offered = onnx_local.resolve_acceleration(
        Acceleration.AUTO,
        available=ort.get_available_providers(),
        native_bf16=onnx_local.cpu_has_native_bf16(),
    )
    assert engine.acceleration in offered
    assert (tmp_path / CACHE_NAME).is_file() or len(offered) == 1
