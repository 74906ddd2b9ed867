"""The local ONNX engine: real models on real photos against committed golden masks."""

from __future__ import annotations

import dataclasses
import io
import os
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper
from PIL import Image

from services.engines import onnx_local
from services.engines.base import ModelMissing
from services.engines.onnx_local import (
    MODELS,
    Acceleration,
    OnnxEngine,
    Scaling,
    cpu_has_native_bf16,
    load_session,
    prepare_model,
    resolve_acceleration,
)
from services.engines.registry import EngineCatalog, EngineConfig, UnknownEngine
from services.engines.remote import RetryPolicy
from services.imaging.compose import OutputOptions
from services.imaging.cutout import cut_out
from services.imaging.intake import IntakeLimits
from services.pricing import Tier
from tests.conftest import SHARED_DIR
from tests.engines.conftest import MODELS_DIR, needs_model

GOLDEN_DIR = Path(__file__).resolve().parents[1] / "golden"
COMPOSITES = SHARED_DIR / "datasets" / "composites"
# A person and an object, each on a busy backdrop.
GOLDEN_PHOTOS = ["astronaut-on-grass", "cup-on-brick"]
THREADS = 2

needs_photos = pytest.mark.skipif(
    not (COMPOSITES / "images").is_dir(),
    reason=f"{COMPOSITES} is absent (the shared datasets folder is not here)",
)


def _alpha_of(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).getchannel("A"))


def _iou(alpha: np.ndarray, golden: np.ndarray) -> float:
    ours, theirs = alpha > 127, golden > 127
    return float((ours & theirs).sum() / max((ours | theirs).sum(), 1))


def _golden(name: str, alpha: np.ndarray) -> np.ndarray:
    path = GOLDEN_DIR / f"{name}.mask.png"
    if os.environ.get("REGENERATE_GOLDEN") == "1":
        # Made once from this engine's output, looked at, and committed: see tests/golden.
        Image.fromarray(alpha, "L").save(path, optimize=True)
    return np.asarray(Image.open(path).convert("L"))


@pytest.fixture(scope="module")
def isnet() -> OnnxEngine:
    # Named rather than measured: calibrating the real model would add half a minute here.
    fast = cpu_has_native_bf16() and "OpenVINOExecutionProvider" in ort.get_available_providers()
    acceleration = Acceleration.OPENVINO_BF16 if fast else Acceleration.CPU
    return OnnxEngine(MODELS["isnet-imgly-medium"], MODELS_DIR, THREADS, acceleration)


@pytest.mark.models
@needs_photos
@needs_model("isnet-imgly-medium.onnx")
@pytest.mark.parametrize("name", GOLDEN_PHOTOS)
def test_a_person_and_an_object_keep_their_subject(isnet, name):
    source = COMPOSITES / "images" / f"{name}.jpg"

    alpha = _alpha_of(cut_out(source, isnet, OutputOptions(), IntakeLimits()))

    assert alpha.shape == (600, 800)
    assert _iou(alpha, _golden(name, alpha)) > 0.95
    truth = np.asarray(Image.open(COMPOSITES / "masks" / f"{name}.png").convert("L"))
    assert _iou(alpha, truth) > 0.9


@pytest.mark.models
@needs_photos
@needs_model("isnet-imgly-medium.onnx")
def test_a_photo_stored_sideways_is_cut_out_upright_at_its_upright_size(isnet, tmp_path):
    # Given the person photo stored turned a quarter, with EXIF saying how to turn it back
    upright = Image.open(COMPOSITES / "images" / f"{GOLDEN_PHOTOS[0]}.jpg")
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    source = tmp_path / "sideways.jpg"
    upright.transpose(Image.Transpose.ROTATE_90).save(source, quality=95, exif=exif)

    alpha = _alpha_of(cut_out(source, isnet, OutputOptions(), IntakeLimits()))

    assert alpha.shape == (600, 800)
    golden = np.asarray(Image.open(GOLDEN_DIR / f"{GOLDEN_PHOTOS[0]}.mask.png"))
    assert _iou(alpha, golden) > 0.95


@pytest.mark.models
@needs_model("isnet-imgly-medium.onnx")
def test_the_isnet_session_computes_only_the_output_it_uses(isnet):
    session = isnet.session()

    assert [output.name for output in session.get_outputs()] == ["output"]


@pytest.mark.models
@needs_photos
@needs_model("selfie_segmentation.onnx")
def test_the_tiny_people_model_finds_the_astronaut():
    engine = OnnxEngine(MODELS["selfie-segmentation"], MODELS_DIR, 1, Acceleration.CPU)
    image = Image.open(COMPOSITES / "images" / "astronaut-on-white.jpg").convert("RGB")
    truth = np.asarray(Image.open(COMPOSITES / "masks" / "astronaut-on-white.png")) > 127

    mask = engine.mask(image)

    assert mask.shape == truth.shape
    assert mask[truth].mean() > 0.5
    assert mask[~truth].mean() < 0.2


def _two_headed_model(path: Path) -> None:
    """A model with a main output and a side head that nothing needs."""
    source = helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 8, 8])
    main = helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 3, 8, 8])
    side = helper.make_tensor_value_info("side", TensorProto.FLOAT, [1, 3, 8, 8])
    two = helper.make_tensor("two", TensorProto.FLOAT, [1], [2.0])
    graph = helper.make_graph(
        [
            helper.make_node("Sigmoid", ["input"], ["output"]),
            helper.make_node("Relu", ["input"], ["relu"]),
            helper.make_node("Mul", ["relu", "two"], ["side"]),
        ],
        "two-headed",
        [source],
        [main, side],
        [two],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))


def test_pruning_keeps_only_the_nodes_of_the_used_output(tmp_path):
    path = tmp_path / "two-headed.onnx"
    _two_headed_model(path)
    data = np.linspace(-3, 3, 192, dtype=np.float32).reshape(1, 3, 8, 8)

    assert prepare_model(path, "output", tmp_path / "pruned.onnx")
    model = onnx.load(str(tmp_path / "pruned.onnx"))
    assert [node.op_type for node in model.graph.node] == ["Sigmoid"]
    assert [tensor.name for tensor in model.graph.initializer] == []
    full = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    session = load_session(path, 1, "output")
    (expected,) = full.run(["output"], {"input": data})
    np.testing.assert_array_equal(session.run(None, {"input": data})[0], expected)


def test_pruning_by_output_index_and_a_single_output_model_is_left_alone(tmp_path):
    path = tmp_path / "two-headed.onnx"
    _two_headed_model(path)

    assert prepare_model(path, 1, tmp_path / "side.onnx")
    by_index = onnx.load(str(tmp_path / "side.onnx"))

    assert [output.name for output in by_index.graph.output] == ["side"]
    single = tmp_path / "single.onnx"
    assert prepare_model(path, "output", single)
    assert not prepare_model(single, 0, tmp_path / "unchanged.onnx")
    assert not (tmp_path / "unchanged.onnx").exists()


@pytest.mark.parametrize("name", sorted(MODELS))
def test_each_model_gets_its_own_input_layout_and_scale(name):
    spec = MODELS[name]
    engine = OnnxEngine(spec, Path("/nonexistent"), 1)
    image = Image.new("RGB", (300, 200), (255, 128, 0))

    tensor = engine._input(image)

    shape = (1, spec.size, spec.size, 3) if spec.channels_last else (1, 3, spec.size, spec.size)
    assert tensor.shape == shape
    assert tensor.dtype == np.float32
    red = float(tensor[0, 0, 0, 0])  # the first value is red in either layout
    expected = {
        Scaling.CENTRED: (255 - 128) / 256,
        Scaling.UNIT: 1.0,
        Scaling.MAX: (1.0 - spec.mean[0]) / spec.std[0],
    }[spec.scaling]
    assert red == pytest.approx(expected, rel=1e-5)


def test_a_missing_model_names_the_file_and_the_command(tmp_path):
    engine = OnnxEngine(MODELS["u2netp"], tmp_path, 1)

    with pytest.raises(ModelMissing) as missing:
        engine.mask(Image.new("RGB", (64, 64)))
    assert str(tmp_path / "u2netp.onnx") in str(missing.value)
    assert "bgbot models download u2netp" in str(missing.value)


def _config(**changes: object) -> EngineConfig:
    values: dict[str, object] = {
        "tier_engines": dict.fromkeys(Tier, "u2netp") | {Tier.INDUSTRY: "birefnet-general"},
        "fallback": "u2netp",
        "models_dir": Path("/models"),
        "threads": 2,
        "huggingface_url": "http://127.0.0.1:9",
        "huggingface_key": None,
        "segmind_url": "http://127.0.0.1:9",
        "segmind_key": None,
        "retry": RetryPolicy(),
    }
    return EngineConfig(**(values | changes))  # type: ignore[arg-type]


def test_the_tier_to_engine_mapping_is_configuration():
    catalog = EngineCatalog(_config())

    assert catalog.for_tier(Tier.BASIC).name == "u2netp"
    assert catalog.for_tier(Tier.INDUSTRY).name == "birefnet-general"
    assert catalog.for_tier(Tier.BASIC) is catalog.for_tier(Tier.STANDARD)
    assert catalog.model_files() == [
        Path("/models/BiRefNet-general-epoch_244.onnx"),
        Path("/models/u2netp.onnx"),
    ]


@pytest.mark.parametrize(
    "changes",
    [
        {"tier_engines": dict.fromkeys(Tier, "u3net")},
        {"fallback": "no-such-model"},
        {"fallback": "huggingface:briaai/RMBG-1.4"},
        {"tier_engines": dict.fromkeys(Tier, "replicate:rmbg")},
        {"tier_engines": dict.fromkeys(Tier, "huggingface:")},
    ],
)
def test_an_unknown_engine_name_fails_loudly_at_start(changes):
    with pytest.raises(UnknownEngine):
        EngineCatalog(_config(**changes))


def test_an_unknown_engine_asked_by_name_fails_loudly():
    with pytest.raises(UnknownEngine, match="u2netp"):
        EngineCatalog(_config()).named("u3net")


def test_a_float16_model_is_widened_to_float32_with_the_same_results(tmp_path):
    source = helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 4])
    result = helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 4])
    half = np.array([0.5, 1.5, -2.0, 3.25], np.float16)
    graph = helper.make_graph(
        [
            helper.make_node("Cast", ["input"], ["narrow"], to=TensorProto.FLOAT16),
            helper.make_node("Mul", ["narrow", "weights"], ["product"]),
            helper.make_node("Cast", ["product"], ["output"], to=TensorProto.FLOAT),
        ],
        "half",
        [source],
        [result],
        [onnx.numpy_helper.from_array(half, "weights")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path = tmp_path / "half.onnx"
    onnx.save(model, str(path))
    data = np.array([[1.0, 2.0, 3.0, 4.0]], np.float32)

    assert prepare_model(path, 0, tmp_path / "wide.onnx")
    widened = onnx.load(str(tmp_path / "wide.onnx"))

    assert {tensor.data_type for tensor in widened.graph.initializer} == {TensorProto.FLOAT}
    casts = [node for node in widened.graph.node if node.op_type == "Cast"]
    assert {attribute.i for node in casts for attribute in node.attribute} == {TensorProto.FLOAT}
    (expected,) = ort.InferenceSession(str(path)).run(None, {"input": data})
    np.testing.assert_allclose(load_session(path, 1, 0).run(None, {"input": data})[0], expected)


def test_a_model_marked_not_to_prepare_is_loaded_as_it_is(tmp_path):
    path = tmp_path / "two-headed.onnx"
    _two_headed_model(path)

    session = load_session(path, 1, "output", prepare=False)

    assert [output.name for output in session.get_outputs()] == ["output", "side"]
    assert not any(spec.prepare for spec in MODELS.values() if spec.name.startswith("birefnet"))


WITH_OPENVINO = ["OpenVINOExecutionProvider", "CPUExecutionProvider"]


@pytest.mark.parametrize(
    ("available", "native_bf16", "int8", "measured"),
    [
        (WITH_OPENVINO, True, False, ["cpu", "openvino-bf16", "openvino"]),
        (WITH_OPENVINO, False, True, ["cpu", "openvino", "int8"]),
        (["CPUExecutionProvider"], True, False, ["cpu"]),
    ],
)
def test_auto_measures_every_path_this_machine_offers_float32_first(
    available, native_bf16, int8, measured
):
    auto = Acceleration.AUTO
    paths = resolve_acceleration(auto, available=available, native_bf16=native_bf16, int8=int8)
    assert paths == measured
    # What the operator names is what runs.
    named = resolve_acceleration(Acceleration.CPU, available=available, native_bf16=True)
    assert named == [Acceleration.CPU]


def test_hardware_bfloat16_is_read_from_the_cpu_flags(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx512f amx_bf16 amx_tile\n")
    assert cpu_has_native_bf16(cpuinfo)
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx2\n")
    assert not cpu_has_native_bf16(cpuinfo)
    assert not cpu_has_native_bf16(tmp_path / "absent")


@pytest.mark.models
@needs_photos
@needs_model("isnet-imgly-medium.onnx")
@pytest.mark.skipif(
    "OpenVINOExecutionProvider" not in ort.get_available_providers(),
    reason="this onnxruntime has no OpenVINO provider (no wheel for this platform)",
)
@pytest.mark.parametrize("acceleration", [Acceleration.OPENVINO, Acceleration.OPENVINO_BF16])
def test_openvino_runs_the_model_and_finds_the_same_subject_as_the_cpu_provider(acceleration):
    if acceleration is Acceleration.OPENVINO_BF16 and not cpu_has_native_bf16():
        pytest.skip("this CPU has no bfloat16 hardware (AMX or AVX-512 BF16)")
    engine = OnnxEngine(MODELS["isnet-imgly-medium"], MODELS_DIR, THREADS, acceleration)
    assert engine.session().get_providers()[0] == "OpenVINOExecutionProvider"
    photo = Image.open(COMPOSITES / "images" / "astronaut-on-grass.jpg").convert("RGB")
    cpu = OnnxEngine(MODELS["isnet-imgly-medium"], MODELS_DIR, THREADS, Acceleration.CPU)
    theirs, ours = cpu.mask(photo) > 0.5, engine.mask(photo) > 0.5
    assert (ours & theirs).sum() / (ours | theirs).sum() > 0.99


class _RecordingSession:
    """A real session whose runs record the run options they were given."""

    def __init__(self, session: ort.InferenceSession) -> None:
        self.session = session
        self.options: list[ort.RunOptions | None] = []

    def get_inputs(self):
        return self.session.get_inputs()

    def get_outputs(self):
        return self.session.get_outputs()

    def run(self, names, feed, options=None):
        self.options.append(options)
        return self.session.run(names, feed, options)


@pytest.mark.parametrize("shrink", [True, False])
def test_each_run_hands_the_arena_back_unless_turned_off(tmp_path, monkeypatch, shrink):
    # Without the shrinkage every session keeps its largest run's activations for good:
    # two tiers' 1024 px models held 1.5 GB between them.
    path = tmp_path / "tiny.onnx"
    source = helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 8, 8])
    output = helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 1, 8, 8])
    mean = helper.make_node("ReduceMean", ["input"], ["mean"], axes=[1], keepdims=1)
    sigmoid = helper.make_node("Sigmoid", ["mean"], ["output"])
    graph = helper.make_graph([mean, sigmoid], "tiny", [source], [output])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    spec = dataclasses.replace(MODELS["isnet-imgly-medium"], name="tiny", filename=path.name)
    spec = dataclasses.replace(spec, size=8)
    engine = OnnxEngine(spec, tmp_path, 1, Acceleration.CPU)
    recording = _RecordingSession(engine.session())
    monkeypatch.setattr(engine, "session", lambda: recording)
    monkeypatch.setattr(onnx_local, "SHRINK_ARENA_AFTER_RUN", shrink)

    mask = engine.mask(Image.new("RGB", (12, 10), "white"))

    assert mask.shape == (10, 12)
    (options,) = recording.options
    if shrink:
        assert options is not None
        entry = options.get_run_config_entry("memory.enable_memory_arena_shrinkage")
        assert entry == "cpu:0"
    else:
        assert options is None
