"""FP16 graphs of solver-like phases: shared constants, report-only outputs, the FP32 fallback.

Small hand-built graphs stand in for the classifier's learning graphs, each with exactly the
property that broke or must hold on the real ones (the real graphs' figures are in the issue 11
notes and docs/decisions.md).
"""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

from calibration.builder import RecordingRunner
from edge_tracker.backends.base import Runner, TensorMeta
from export.build import FP32_FALLBACK, _strict_json, _variants
from export.precision.fp16 import Fp16Failed, convert, to_fp16, untie_constants


def _save(tmp_path, name, nodes, inputs, outputs, initializers):
    graph = helper.make_graph(nodes, name, inputs, outputs, initializers)
    path = tmp_path / f"{name}.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), str(path))
    return path


def _vector(name, size=64):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, [1, size])


def _shared_scalar_graph(tmp_path):
    """One scalar ``k`` read by a node the converter keeps in float32 (by name) and by one it converts."""
    nodes = [helper.make_node("Mul", ["x", "k"], ["a"], name="kept"),
             helper.make_node("Mul", ["x", "k"], ["b"], name="converted"),
             helper.make_node("Add", ["a", "b"], ["y"], name="join")]
    return _save(tmp_path, "shared", nodes, [_vector("x")], [_vector("y")],
                 [helper.make_tensor("k", TensorProto.FLOAT, [1], [0.5])])


def test_a_constant_shared_by_float32_and_float16_readers_gives_a_valid_graph(tmp_path):
    path = _shared_scalar_graph(tmp_path)
    model = onnx.load(str(path))
    untied = untie_constants(model)
    readers = [node.input[1] for node in untied.graph.node if node.op_type == "Mul"]
    assert readers == ["k", "k__1"]  # the second reader has its own copy
    converted = convert(model, keep_nodes=["kept"])
    out = tmp_path / "shared.fp16.onnx"
    onnx.save(converted, str(out))
    onnx.checker.check_model(converted, full_check=True)
    x = np.linspace(-1, 1, 64, dtype=np.float32)[None]
    (y,) = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"]).run(None, {"x": x})
    np.testing.assert_allclose(y, x, rtol=1e-3, atol=1e-3)  # 0.5 x + 0.5 x


def test_without_untying_the_converter_makes_the_invalid_graph_it_used_to(tmp_path):
    """The defect ``untie_constants`` removes, kept visible: if the converter ever fixes it, this fails
    and the workaround can go."""
    from onnxconverter_common import float16

    model = onnx.load(str(_shared_scalar_graph(tmp_path)))
    broken = float16.convert_float_to_float16(model, keep_io_types=True, node_block_list=["kept"])
    with pytest.raises(Exception, match="bound to different types|type"):
        ort.InferenceSession(broken.SerializeToString(), providers=["CPUExecutionProvider"])


def _cancelling_graph(tmp_path):
    """``y = (x + 2049) - 2048 = x + 1``; float16 has no 2049 (it rounds to 2048), so in FP16 ``y`` is
    ``x`` (error 1 against a scale of ~1); ``report = x + 2049`` is off by 1 in 2049 only."""
    nodes = [helper.make_node("Add", ["x", "odd"], ["shifted"], name="shift"),
             helper.make_node("Sub", ["shifted", "even"], ["y"], name="unshift"),
             helper.make_node("Identity", ["shifted"], ["report"], name="report")]
    return _save(tmp_path, "cancel", nodes, [_vector("x")], [_vector("y"), _vector("report")],
                 [helper.make_tensor("odd", TensorProto.FLOAT, [1], [2049.0]),
                  helper.make_tensor("even", TensorProto.FLOAT, [1], [2048.0])])


def _feeds(count=3):
    rng = np.random.default_rng(0)
    return [{"x": rng.uniform(-0.01, 0.01, (1, 64)).astype(np.float32)} for _ in range(count)]


def test_report_only_outputs_are_measured_but_do_not_gate(tmp_path):
    """``y`` cancels to garbage in FP16 while ``report`` is fine: gating on ``y`` fails, with every try
    and the worst output named; with ``y`` report-only the graph passes and its error is recorded."""
    path = _cancelling_graph(tmp_path)
    with pytest.raises(Fp16Failed, match="output 'y'") as failed:
        to_fp16(path, tmp_path / "a.fp16.onnx", _feeds(), 1e-2)
    assert failed.value.tries and all(t["output_errors"]["y"] > 0.1 for t in failed.value.tries)
    assert all(t["output_errors"]["report"] < 1e-3 for t in failed.value.tries)
    assert not (tmp_path / "a.fp16.onnx").exists()  # nothing half-made left behind
    result = to_fp16(path, tmp_path / "b.fp16.onnx", _feeds(), 1e-2, {"y": float("inf")})
    assert result.error < 1e-3 and result.tries[-1]["output_errors"]["y"] > 0.1


class _Calibration:
    """The two methods of ``calibration.store.CalibrationSet`` that ``_variants`` reads."""

    def __init__(self, feeds):
        self._feeds = feeds

    def count(self, name):
        return len(self._feeds)

    def feeds(self, name):
        return iter(self._feeds)


def _phase(tmp_path, name):
    from edge_tracker.manifest import sha256_file

    path = _cancelling_graph(tmp_path)
    target = tmp_path / f"{name}.onnx"
    path.rename(target)
    return {"name": name, "file": target.name, "sha256": sha256_file(target),
            "outputs": [{"name": "y", "shape": [1, 64], "dtype": "float32"},
                        {"name": "report", "shape": [1, 64], "dtype": "float32", "diagnostic": True}]}


def test_a_learning_phase_without_a_passing_fp16_graph_keeps_fp32_with_the_tries(tmp_path):
    phase = _phase(tmp_path, "classifier_update")
    variants = _variants(phase, tmp_path, _Calibration(_feeds(8)), ("fp32", "fp16", "int8"), sensitivity=False)
    assert "classifier_update" in FP32_FALLBACK
    for precision in ("fp16", "int8"):
        record = variants[precision]
        assert record["file"] == "classifier_update.onnx" and record["precision"] == "fp32"
        assert record["why"] == FP32_FALLBACK["classifier_update"]
        assert record["fp16_tries"][0]["output_errors"]["y"] > 0.1
    assert _strict_json(variants)  # encodable as strict JSON (no Infinity)


def test_a_frame_phase_without_a_passing_fp16_graph_fails_the_build(tmp_path):
    phase = _phase(tmp_path, "backbone")
    with pytest.raises(Fp16Failed, match="cannot run in FP16"):
        _variants(phase, tmp_path, _Calibration(_feeds(8)), ("fp32", "fp16"), sensitivity=False)


def test_strict_json_names_non_finite_numbers():
    assert _strict_json({"a": [float("inf"), 1.0, {"b": float("nan")}]}) == {"a": ["inf", 1.0, {"b": "nan"}]}


class _Echo(Runner):
    """A host runner that returns its feed (the recorder only needs something to wrap)."""

    def input_metadata(self):
        return {"x": TensorMeta("x", (1, 1), np.dtype(np.float32))}

    def output_metadata(self):
        return {"x": TensorMeta("x", (1, 1), np.dtype(np.float32))}

    def _activate(self):
        pass

    def _deactivate(self):
        pass

    def _infer(self, feed, copy_outputs_to_host):
        return dict(feed)


def test_a_recording_runner_with_a_limit_keeps_a_uniform_sample():
    """Reservoir sampling: never more than ``limit`` feeds held; over many runs each of 40 feeds is
    kept with probability limit / 40 = 1/4 (checked within 4 standard deviations)."""
    kept = np.zeros(40)
    runs = 400
    for seed in range(runs):
        recorder = RecordingRunner(_Echo("echo"), limit=10, rng=np.random.default_rng(seed)).activate()
        for index in range(40):
            recorder.infer({"x": np.full((1, 1), index, np.float32)})
        assert len(recorder.records) == 10 and recorder.seen == 40
        for record in recorder.records:
            kept[int(record["x"][0, 0])] += 1
    sigma = np.sqrt(runs * 0.25 * 0.75)
    assert np.all(np.abs(kept - runs / 4) < 4 * sigma), kept
