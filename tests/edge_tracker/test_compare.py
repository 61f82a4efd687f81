"""The comparator: two tiny ONNX models (Relu and Neg, the candidate with offsets added) on ONNX Runtime.

Every input below has max |reference| = 1 on both outputs, so an offset ``c`` on an output is a
relative error of ``c`` (to float32 rounding, 6e-8, far inside the 1 % margins of the boundary tests).
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from edge_tracker.backends.arrays import DeviceArray
from edge_tracker.backends.onnxruntime import OnnxRuntimeRunner
from edge_tracker.compare import DEFAULT_TOLERANCES, compare
from edge_tracker.errors import InputError

X = np.array([[0.25, -0.5, 1.0, -0.75]], np.float32)  # relu max 1, |neg| max 1


def _model(path, offsets=None, outputs=("y", "z"), shape=(1, 4)):
    """``y = Relu(x) + offsets["y"]``, ``z = -x + offsets["z"]`` (the outputs named in ``outputs``)."""
    offsets = offsets or {}
    nodes, inits, outs = [], [], []
    for name, op in (("y", "Relu"), ("z", "Neg")):
        if name not in outputs:
            continue
        nodes.append(helper.make_node(op, ["x"], [f"{name}_raw"]))
        inits.append(helper.make_tensor(f"{name}_offset", TensorProto.FLOAT, [], [offsets.get(name, 0.0)]))
        nodes.append(helper.make_node("Add", [f"{name}_raw", f"{name}_offset"], [name]))
        outs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, list(shape)))
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(shape))],
                              outs, initializer=inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), str(path))
    return OnnxRuntimeRunner(path)


@pytest.fixture()
def reference(tmp_path):
    return _model(tmp_path / "reference.onnx")


@pytest.fixture()
def candidate(tmp_path):
    """``candidate(y=..., z=...)``: the reference's graph with those offsets added."""
    count = iter(range(100))
    return lambda **offsets: _model(tmp_path / f"candidate{next(count)}.onnx", offsets)


def numpy_reference(feed):
    return {"y": np.maximum(feed["x"], 0), "z": -feed["x"]}


def test_identical_graphs_agree_exactly_and_report_every_figure(reference, candidate):
    result = compare(candidate(), reference, [{"x": X}])
    assert result.passed and result.failures == [] and result.feeds == 1
    assert [o.name for o in result.outputs] == ["y", "z"]
    assert result["y"].max_abs_error == 0.0 and result["y"].scale == 1.0 and result["z"].scale == 1.0
    assert result["y"].tolerance == DEFAULT_TOLERANCES["fp32"] == 1e-4
    summary = result.as_dict()
    assert summary["passed"] is True and summary["precision"] == "fp32" and summary["feeds"] == 1
    assert summary["candidate"] == "OnnxRuntimeRunner 'candidate0'"
    assert summary["reference"] == "OnnxRuntimeRunner 'reference'"
    assert summary["outputs"]["z"] == {"max_abs_error": 0.0, "scale": 1.0, "relative_error": 0.0,
                                       "mean_abs_error": 0.0, "tolerance": 1e-4, "passed": True,
                                       "worst_feed": 0, "nonfinite": 0}


@pytest.mark.parametrize("precision", ["fp32", "fp16", "int8"])
@pytest.mark.parametrize("factor, passes", [(0.99, True), (1.01, False)])
def test_each_precision_boundary(reference, candidate, precision, factor, passes):
    tolerance = DEFAULT_TOLERANCES[precision]
    result = compare(candidate(y=factor * tolerance), reference, [{"x": X}], precision=precision)
    y = result["y"]
    assert y.relative_error == pytest.approx(factor * tolerance, rel=1e-3)
    assert y.max_abs_error == pytest.approx(factor * tolerance, rel=1e-3)
    assert y.mean_abs_error == pytest.approx(factor * tolerance, rel=1e-3)  # every element moved by c
    assert y.tolerance == tolerance
    assert y.passed is passes and result["z"].passed and result.passed is passes
    assert [o.name for o in result.failures] == ([] if passes else ["y"])


def test_fp16_and_int8_tolerances_are_looser_than_fp32(reference, candidate):
    assert DEFAULT_TOLERANCES["fp32"] < DEFAULT_TOLERANCES["fp16"] < DEFAULT_TOLERANCES["int8"]
    shifted = candidate(y=2e-3)
    assert not compare(shifted, reference, [{"x": X}], precision="fp32").passed
    fp16 = compare(shifted, reference, [{"x": X}], precision="fp16")
    assert fp16.passed and fp16["y"].tolerance == 1e-2 and fp16.precision == "fp16"


def test_per_output_override(reference, candidate):
    shifted = candidate(y=5e-5, z=3e-3)
    default = compare(shifted, reference, [{"x": X}])
    assert [o.name for o in default.failures] == ["z"]
    loose_z = compare(shifted, reference, [{"x": X}], tolerances={"z": 5e-3})
    assert loose_z.passed and loose_z["z"].tolerance == 5e-3 and loose_z["y"].tolerance == 1e-4
    tight_y = compare(shifted, reference, [{"x": X}], tolerances={"y": 4e-5, "z": 5e-3})
    assert [o.name for o in tight_y.failures] == ["y"] and tight_y["y"].tolerance == 4e-5
    with pytest.raises(InputError, match=r"tolerances given for \['w'\], which are not outputs; "
                                         r"the outputs are \['y', 'z'\]"):
        compare(shifted, reference, [{"x": X}], tolerances={"w": 1.0})
    with pytest.raises(InputError, match=r"tolerance of output 'y' must be a number >= 0 \(inf: report only\), "
                                         "got -1"):
        compare(shifted, reference, [{"x": X}], tolerances={"y": -1})
    with pytest.raises(InputError, match="got nan"):
        compare(shifted, reference, [{"x": X}], tolerances={"y": float("nan")})
    report_only = compare(shifted, reference, [{"x": X}], tolerances={"y": float("inf"), "z": float("inf")})
    assert report_only.passed and report_only["z"].relative_error == default["z"].relative_error > 1e-4
    with pytest.raises(InputError, match=r"unknown precision 'fp8'.*\['fp32', 'fp16', 'int8'\]"):
        compare(shifted, reference, [{"x": X}], precision="fp8")


def test_a_reference_function_and_several_feeds_from_a_generator(candidate):
    feeds = ({"x": X * scale} for scale in (1.0, 2.0, 4.0))  # read once, as any iterable
    result = compare(candidate(y=1e-5), numpy_reference, feeds)
    assert result.passed and result.feeds == 3 and result.reference == "function 'numpy_reference'"
    y = result["y"]
    # the same offset against scales 1, 2, 4: the first feed is the worst
    assert y.worst_feed == 0 and y.scale == 1.0 and y.relative_error == pytest.approx(1e-5, rel=1e-2)
    assert result["z"].max_abs_error == 0.0 and result["z"].scale == 1.0


def test_shape_dtype_and_output_name_mismatches_are_errors(tmp_path, reference, candidate):
    reshaped = lambda feed: {k: v.reshape(4) for k, v in numpy_reference(feed).items()}
    with pytest.raises(InputError, match=r"output 'y' has shape \(1, 4\) in OnnxRuntimeRunner 'candidate0' "
                                         r"but \(4,\) in function '<lambda>'"):
        compare(candidate(), reshaped, [{"x": X}])
    doubled = lambda feed: {k: v.astype(np.float64) for k, v in numpy_reference(feed).items()}
    with pytest.raises(InputError, match="output 'y' has dtype float32 in .* but float64"):
        compare(candidate(), doubled, [{"x": X}])
    only_y = _model(tmp_path / "only_y.onnx", outputs=("y",))
    with pytest.raises(InputError, match=r"missing from the candidate: \['z'\]; not in the reference: \[\]"):
        compare(only_y, reference, [{"x": X}])
    with pytest.raises(InputError, match=r"missing from the candidate: \[\]; not in the reference: \['z'\]"):
        compare(reference, only_y, [{"x": X}])
    with pytest.raises(InputError, match="no feeds to compare on"):
        compare(candidate(), reference, [])
    with pytest.raises(InputError, match="the reference must be a Runner or a function"):
        compare(candidate(), "reference.onnx", [{"x": X}])


def test_non_finite_values_fail_instead_of_passing(candidate):
    def with_nan(feed):
        outputs = numpy_reference(feed)
        outputs["y"] = outputs["y"].copy()
        outputs["y"][0, 0] = np.nan
        return outputs

    result = compare(candidate(), with_nan, [{"x": X}], tolerances={"y": 1e9})
    assert not result.passed and result["y"].nonfinite == 1 and np.isnan(result["y"].max_abs_error)
    assert result["z"].passed
    assert "FAIL (1 non-finite)" in str(result)


def test_device_arrays_are_refused_clearly_unless_a_to_host_hook_is_given(reference, candidate):
    host = np.ascontiguousarray(X)
    on_device = DeviceArray(pointer=0xDEAD0000, shape=(1, 4), dtype=np.dtype(np.float32), owner=host)
    # a CPU runner fed a device array says where it is and what to do
    with pytest.raises(InputError, match=r"input 'x' is on cuda:0, but this ONNX Runtime session runs on the "
                                         r"CPU; pass a host array or use device 'cuda'"):
        compare(candidate(), reference, [{"x": on_device}])

    def device_reference(feed):  # a reference that leaves its outputs on the device
        outputs = numpy_reference(feed)
        return {name: DeviceArray(0xBEEF0000, value.shape, value.dtype, owner=value) for name, value in outputs.items()}

    with pytest.raises(InputError, match=r"a DeviceArray on cuda:0 cannot be read on the host here; copy it "
                                         r"with its own library"):
        compare(candidate(), device_reference, [{"x": X}])
    result = compare(candidate(y=2e-5), device_reference, [{"x": X}], to_host=lambda array: array.owner)
    assert result.passed and result["y"].max_abs_error == pytest.approx(2e-5, rel=1e-2)


def test_runners_are_activated_for_the_comparison_and_left_as_found(reference, candidate):
    shifted = candidate(y=1e-5)
    reference.activate()
    result = compare(shifted, reference, [{"x": X}])
    assert result.passed and not shifted.is_active and reference.is_active
    reference.deactivate()


def test_the_table_names_every_output_with_its_figures(reference, candidate):
    text = str(compare(candidate(z=3e-4), reference, [{"x": X}]))
    lines = text.splitlines()
    assert lines[0] == ("OnnxRuntimeRunner 'candidate0' vs OnnxRuntimeRunner 'reference', fp32, 1 feed(s): "
                        "FAILED (1 of 2 outputs)")
    assert lines[1].split() == ["output", "max_abs", "scale", "rel_err", "mean_abs", "tolerance", "result"]
    assert lines[2].split() == ["y", "0.00e+00", "1", "0.00e+00", "0.00e+00", "1.0e-04", "pass"]
    assert lines[3].split() == ["z", "3.00e-04", "1", "3.00e-04", "3.00e-04", "1.0e-04", "FAIL"]
