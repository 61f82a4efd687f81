"""The graph checks must catch each defect they claim to: tiny hand-built graphs, one defect each."""

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from edge_tracker.errors import GraphCheckError
from export.graph_check import check_graph
from export.tensorrt_support import TENSORRT_ONNX_OPS


def _model(nodes, inputs, outputs, initializers=(), opset=17):
    graph = helper.make_graph(nodes, "g", inputs, outputs, initializer=list(initializers))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=8)


def _value(name, shape):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


def _good():
    weight = numpy_helper.from_array(np.ones((2, 3, 1, 1), np.float32), "w")
    return _model([helper.make_node("Conv", ["x", "w"], ["c"]), helper.make_node("Relu", ["c"], ["y"])],
                  [_value("x", [1, 3, 4, 4])], [_value("y", [1, 2, 4, 4])], [weight])


def test_clean_graph_passes():
    report = check_graph(_good())
    assert report.ok, report.problems
    assert report.op_types == ["Conv", "Relu"] and report.opset == 17


def test_unsupported_op_is_named():
    # Hardmax is in the TensorRT 10 matrix but not in 8.6's: one export must serve both
    assert "Hardmax" not in TENSORRT_ONNX_OPS
    model = _model([helper.make_node("Hardmax", ["x"], ["y"])], [_value("x", [2, 3])], [_value("y", [2, 3])])
    report = check_graph(model)
    assert any("Hardmax" in p and p.startswith("ops:") for p in report.problems)
    with pytest.raises(GraphCheckError, match="Hardmax"):
        report.raise_if_failed("m")


def test_custom_domain_is_flagged():
    node = helper.make_node("PrRoIPool", ["x"], ["y"], domain="com.example")
    graph = helper.make_graph([node], "g", [_value("x", [1, 2])], [_value("y", [1, 2])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                    helper.make_opsetid("com.example", 1)], ir_version=8)
    assert any("custom domain" in p for p in check_graph(model).problems)


def test_dynamic_shape_is_flagged():
    model = _model([helper.make_node("Relu", ["x"], ["y"])], [_value("x", ["batch", 3])],
                   [_value("y", ["batch", 3])])
    problems = check_graph(model).problems
    assert any(p.startswith("static_shapes") and "'x'" in p for p in problems)


def test_unfolded_constant_subgraph_is_flagged():
    a = numpy_helper.from_array(np.ones((2,), np.float32), "a")
    b = numpy_helper.from_array(np.ones((2,), np.float32), "b")
    model = _model([helper.make_node("Add", ["a", "b"], ["ab"]), helper.make_node("Add", ["x", "ab"], ["y"])],
                   [_value("x", [2])], [_value("y", [2])], [a, b])
    problems = check_graph(model).problems
    assert any(p.startswith("folded") and "Add" in p for p in problems)
    assert sum(p.startswith("folded") for p in problems) == 1


def test_opset_too_new_for_jetpack5():
    model = _good()
    model.opset_import[0].version = 18
    assert any(p.startswith("opset") for p in check_graph(model).problems)


def test_ir_version_too_new_for_old_runtimes():
    model = _good()
    model.ir_version = 10
    assert any("IR version 10" in p for p in check_graph(model).problems)


def test_dynamic_slice_axes_are_flagged():
    starts = numpy_helper.from_array(np.array([0], np.int64), "starts")
    ends = numpy_helper.from_array(np.array([1], np.int64), "ends")
    nodes = [helper.make_node("Shape", ["x"], ["shape"]),
             helper.make_node("Slice", ["shape", "starts", "ends"], ["axes"]),
             helper.make_node("Slice", ["x", "starts", "ends", "axes"], ["y"])]
    model = _model(nodes, [_value("x", [4])], [_value("y", [1])], [starts, ends])
    assert any(p.startswith("constant_inputs") and "Slice" in p for p in check_graph(model).problems)


def test_checker_failure_is_reported():
    model = _model([helper.make_node("Relu", ["missing"], ["y"])], [_value("x", [2])], [_value("y", [2])])
    assert any(p.startswith("checker") for p in check_graph(model).problems)


def test_int32_dequantize_linear_is_flagged():
    """Issue 24, defect 1: TensorRT's parser refuses a DequantizeLinear of INT32 (ORT's quantized biases)."""
    bias = numpy_helper.from_array(np.array([7, -3], np.int32), "b_q")
    scale = numpy_helper.from_array(np.array([0.5, 0.25], np.float32), "b_scale")
    weight = numpy_helper.from_array(np.ones((2, 3, 1, 1), np.float32), "w")
    nodes = [helper.make_node("DequantizeLinear", ["b_q", "b_scale"], ["b"], name="bias_DequantizeLinear", axis=0),
             helper.make_node("Conv", ["x", "w", "b"], ["y"])]
    model = _model(nodes, [_value("x", [1, 3, 4, 4])], [_value("y", [1, 2, 4, 4])], [bias, scale, weight])
    problems = check_graph(model).problems
    assert [p for p in problems if p.startswith("qdq_types")] == [
        "qdq_types: 1 DequantizeLinear node(s) of INT32 tensors (quantized biases), which TensorRT's parser refuses: "
        "['bias_DequantizeLinear']; fold them into float biases (export.precision.qdq_bias.fold_int32_bias)"]
