"""Tiny ONNX graphs of each kind the engine build tells apart (float32, with float16 parts, with Q/DQ)."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def tiny_graph(path, kind: str):
    """A one-node graph y = x * w: float32, with a float16 Cast, or with a Q/DQ pair."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])
    w = numpy_helper.from_array(np.ones((1, 4), np.float32), "w")
    nodes, inits = [], [w]
    if kind == "fp16":
        nodes = [helper.make_node("Cast", ["x"], ["x16"], to=TensorProto.FLOAT16),
                 helper.make_node("Cast", ["x16"], ["x32"], to=TensorProto.FLOAT),
                 helper.make_node("Mul", ["x32", "w"], ["y"])]
    elif kind == "qdq":
        inits += [numpy_helper.from_array(np.array(0.1, np.float32), "s"), numpy_helper.from_array(np.array(0, np.int8), "z")]
        nodes = [helper.make_node("QuantizeLinear", ["x", "s", "z"], ["q"]),
                 helper.make_node("DequantizeLinear", ["q", "s", "z"], ["dq"]), helper.make_node("Mul", ["dq", "w"], ["y"])]
    else:
        nodes = [helper.make_node("Mul", ["x", "w"], ["y"])]
    model = helper.make_model(helper.make_graph(nodes, "g", [x], [y], inits), opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(model, str(path))
    return path
