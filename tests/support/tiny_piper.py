"""A tiny Piper-format voice built in a second: the real piper runtime loads and runs it."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

SAMPLE_RATE = 22050
HOP = 256
TONE_HZ = 220.0


def build_tiny_piper_voice(model: Path, *, slow_matmuls: int = 0) -> Path:
    """A Piper-format VITS stand-in: 2–4 frames of a 220 Hz tone per phoneme id.

    `slow_matmuls` > 0 adds that many 1024x1024 matrix products per call, fed from the input
    so they cannot be folded away: a deliberately slow voice for fault tests.

    Follows /work/shared/notes/media-stack.md §2: inputs `input`, `input_lengths`, `scales`;
    the duration path ends in a `Ceil` (VITS `w_ceil`), 256 samples per frame.
    """

    def const(name: str, value: np.ndarray) -> onnx.NodeProto:
        return helper.make_node("Constant", [], [name], value=numpy_helper.from_array(value, name))

    nodes = [
        const("three", np.array(3, np.int64)),
        const("length_index", np.array(1, np.int64)),
        const("two", np.array(2.0, np.float32)),
        const("axis1", np.array([1], np.int64)),
        const("hop", np.array(float(HOP), np.float32)),
        const("zero", np.array(0.0, np.float32)),
        const("one", np.array(1.0, np.float32)),
        const("omega", np.array(2 * math.pi * TONE_HZ / SAMPLE_RATE, np.float32)),
        const("amplitude", np.array(0.3, np.float32)),
        const("shape", np.array([1, 1, -1], np.int64)),
        helper.make_node("Mod", ["input", "three"], ["id_mod"]),
        helper.make_node("Cast", ["id_mod"], ["id_mod_f"], to=TensorProto.FLOAT),
        helper.make_node("Add", ["id_mod_f", "two"], ["frames_per_id"]),
        helper.make_node("Gather", ["scales", "length_index"], ["length_scale"], axis=0),
        helper.make_node("Mul", ["frames_per_id", "length_scale"], ["w"]),
        helper.make_node("Unsqueeze", ["w", "axis1"], ["w_3d"]),
        helper.make_node("Ceil", ["w_3d"], ["w_ceil"]),
        helper.make_node("ReduceSum", ["w_ceil"], ["frames"], keepdims=0),
        helper.make_node("Mul", ["frames", "hop"], ["n_samples"]),
        helper.make_node("Range", ["zero", "n_samples", "one"], ["t"]),
        helper.make_node("Mul", ["t", "omega"], ["phase"]),
        helper.make_node("Sin", ["phase"], ["sine"]),
        helper.make_node("Mul", ["sine", "amplitude"], ["audio"]),
        helper.make_node("Reshape", ["audio", "shape"], ["output"]),
    ]
    if slow_matmuls:
        nodes[-1] = helper.make_node("Reshape", ["audio", "shape"], ["tone"])
        nodes += [
            const("weights", np.full((1024, 1024), 1e-3, np.float32)),
            helper.make_node("ReduceSum", ["id_mod_f"], ["seed"], keepdims=0),
            helper.make_node("Mul", ["weights", "seed"], ["m0"]),
        ]
        for i in range(slow_matmuls):
            nodes.append(helper.make_node("MatMul", [f"m{i}", "weights"], [f"m{i + 1}"]))
        nodes += [
            helper.make_node("ReduceSum", [f"m{slow_matmuls}"], ["total"], keepdims=0),
            helper.make_node("Mul", ["total", "zero"], ["nothing"]),
            helper.make_node("Add", ["tone", "nothing"], ["output"]),
        ]
    graph = helper.make_graph(
        nodes, "tiny_piper",
        [helper.make_tensor_value_info("input", TensorProto.INT64, [1, "phonemes"]),
         helper.make_tensor_value_info("input_lengths", TensorProto.INT64, [1]),
         helper.make_tensor_value_info("scales", TensorProto.FLOAT, [3])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 1, None])],
    )
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 15)])
    proto.ir_version = 8
    onnx.checker.check_model(proto)
    onnx.save(proto, str(model))

    from piper.phoneme_ids import DEFAULT_PHONEME_ID_MAP

    config = {
        "audio": {"sample_rate": SAMPLE_RATE}, "espeak": {"voice": "en-us"},
        "phoneme_type": "espeak", "phoneme_id_map": DEFAULT_PHONEME_ID_MAP,
        "num_symbols": 256, "num_speakers": 1, "speaker_id_map": {}, "hop_length": HOP,
        "inference": {"noise_scale": 0.667, "length_scale": 1.0, "noise_w": 0.8},
        "piper_version": "1.0.0",
    }
    Path(f"{model}.json").write_text(json.dumps(config), encoding="utf-8")
    return model
