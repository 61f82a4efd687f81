"""Issue 24, defect 1: our INT8 graphs carry no INT32 DequantizeLinear, and folding it changed nothing on ORT."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from export.graph_check import check_graph
from export.precision.int8 import quantize
from export.precision.qdq_bias import fold_int32_bias


def _conv_graph(path):
    rng = np.random.default_rng(3)
    weight = numpy_helper.from_array(rng.normal(0, 0.5, (4, 3, 3, 3)).astype(np.float32), "w")
    bias = numpy_helper.from_array(rng.normal(0, 0.5, (4,)).astype(np.float32), "b")
    graph = helper.make_graph([helper.make_node("Conv", ["x", "w", "b"], ["c"], name="conv", pads=[1, 1, 1, 1]),
                               helper.make_node("Relu", ["c"], ["y"], name="relu")], "conv",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 8, 8])], [weight, bias])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), str(path))
    return [{"x": rng.normal(0, 1, (1, 3, 8, 8)).astype(np.float32)} for _ in range(4)]


def _int32_dequantize_nodes(model):
    ints = {i.name for i in model.graph.initializer if i.data_type == TensorProto.INT32}
    return [n.name for n in model.graph.node if n.op_type == "DequantizeLinear" and n.input[0] in ints]


def _run(model, feed):
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feed)[0]


def test_quantize_writes_no_int32_dequantize_linear(tmp_path):
    feeds = _conv_graph(tmp_path / "conv.onnx")
    quantize(tmp_path / "conv.onnx", tmp_path / "conv.int8.onnx", feeds)
    model = onnx.load(str(tmp_path / "conv.int8.onnx"))
    assert _int32_dequantize_nodes(model) == []
    assert {n.op_type for n in model.graph.node} >= {"QuantizeLinear", "DequantizeLinear", "Conv"}
    assert check_graph(model).ok, check_graph(model).problems


def test_folding_the_bias_leaves_onnx_runtime_output_unchanged(tmp_path):
    feeds = _conv_graph(tmp_path / "conv.onnx")
    from onnxruntime import quantization as quant

    class Reader(quant.CalibrationDataReader):
        def __init__(self):
            self._feeds = iter(feeds)

        def get_next(self):
            return next(self._feeds, None)

    quant.quantize_static(str(tmp_path / "conv.onnx"), str(tmp_path / "raw.onnx"), Reader(),
                          quant_format=quant.QuantFormat.QDQ, per_channel=True,
                          activation_type=quant.QuantType.QInt8, weight_type=quant.QuantType.QInt8,
                          extra_options={"ActivationSymmetric": True, "WeightSymmetric": True})
    raw = onnx.load(str(tmp_path / "raw.onnx"))
    assert _int32_dequantize_nodes(raw), "ORT's quantizer no longer writes INT32 biases: this test needs a new case"
    assert any(p.startswith("qdq_types") for p in check_graph(raw).problems)
    folded = onnx.load(str(tmp_path / "raw.onnx"))
    assert fold_int32_bias(folded) == len(_int32_dequantize_nodes(raw))
    assert _int32_dequantize_nodes(folded) == []
    for feed in feeds:
        assert np.array_equal(_run(raw, feed), _run(folded, feed))  # bit for bit: the same arithmetic, done ahead
