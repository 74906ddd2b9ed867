"""Tiny ONNX models with the real families' input and output signatures, built in the tests.

Each computes a plausible mask (bright pixels are the subject) in a handful of operators, so
every recipe's wiring runs end to end without a download.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def _graph(
    input_name: str,
    size: int,
    outputs: list[str],
    *,
    logits: bool,
) -> onnx.ModelProto:
    """Mean over the colour channels, sharpened; `outputs` all carry it (side outputs too)."""
    source = helper.make_tensor_value_info(input_name, TensorProto.FLOAT, [1, 3, size, size])
    gain = numpy_helper.from_array(np.array(12.0, np.float32), "gain")
    centre = numpy_helper.from_array(np.array(0.0, np.float32), "centre")
    nodes = [
        helper.make_node("ReduceMean", [input_name], ["brightness"], axes=[1], keepdims=1),
        helper.make_node("Sub", ["brightness", "centre"], ["centred"]),
        helper.make_node("Mul", ["centred", "gain"], ["logit"]),
    ]
    last = "logit"
    if not logits:
        nodes.append(helper.make_node("Sigmoid", ["logit"], ["probability"]))
        last = "probability"
    results = []
    for name in outputs:
        nodes.append(helper.make_node("Identity", [last], [name]))
        results.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, [1, 1, size, size]))
    graph = helper.make_graph(nodes, "standin", [source], results, [gain, centre])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 11)])
    model.ir_version = 7
    onnx.checker.check_model(model)
    return model


def isnet(path: Path) -> Path:
    """ISNet (rembg's isnet-general-use): `input_image` 1024, six sigmoid outputs, first used."""
    names = ["output", *(f"side{n}" for n in range(1, 6))]
    onnx.save(_graph("input_image", 1024, names, logits=False), str(path))
    return path


def birefnet(path: Path) -> Path:
    """BiRefNet: `input_image` 1024, one output of logits (the engine applies the sigmoid)."""
    onnx.save(_graph("input_image", 1024, ["output_image"], logits=True), str(path))
    return path


def u2net(path: Path) -> Path:
    """U²-Net: `input.1` 320, seven sigmoid outputs (d0 first, then the side maps)."""
    names = ["d0", *(f"d{n}" for n in range(1, 7))]
    onnx.save(_graph("input.1", 320, names, logits=False), str(path))
    return path
