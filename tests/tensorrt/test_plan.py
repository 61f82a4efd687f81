"""The version dispatch of the engine build (``export.tensorrt.plan``), as data, for every release line."""

from __future__ import annotations

import pytest

from edge_tracker.errors import ConfigError, InputError
from export.tensorrt import BuildOptions, GraphKind, plan_build
from export.tensorrt_support import features

FP32, FP16, QDQ = GraphKind.named("fp32"), GraphKind.named("fp16"), GraphKind.named("qdq")
JETPACK5, JETPACK6, DESKTOP10, TRT11 = (features(v) for v in ("8.6.1", "10.3.0", "10.13.3.9", "11.4.0.106"))


def _switches(plan):
    return plan.network_flags, plan.set_flags, plan.clear_flags, plan.calibrate


def test_tensorrt_8_uses_explicit_batch_and_precision_flags():
    options = BuildOptions()
    assert _switches(plan_build(JETPACK5, "fp32", FP32, options)) == (("EXPLICIT_BATCH",), (), ("TF32",), False)
    assert _switches(plan_build(JETPACK5, "fp16", FP16, options)) == (("EXPLICIT_BATCH",), ("FP16",), (), False)
    assert _switches(plan_build(JETPACK5, "fp16", FP32, options)) == (("EXPLICIT_BATCH",), ("FP16",), (), False)
    assert _switches(plan_build(JETPACK5, "int8", QDQ, options)) == (("EXPLICIT_BATCH",), ("INT8",), (), False)
    # the int8 variant keeps some phases at FP16 (export.build): the FP16 flag builds them
    assert _switches(plan_build(JETPACK5, "int8", FP16, options)) == (("EXPLICIT_BATCH",), ("FP16",), (), False)
    assert _switches(plan_build(JETPACK5, "int8", GraphKind(qdq=True, fp16=True), options))[1] == ("FP16", "INT8")
    # the legacy entropy calibrator: int8 from the FP32 graph, with a calibration set
    assert _switches(plan_build(JETPACK5, "int8", FP32, options, calibration=True)) == \
        (("EXPLICIT_BATCH",), ("INT8",), (), True)


@pytest.mark.parametrize("row, flags", [(JETPACK6, ("STRONGLY_TYPED",)), (DESKTOP10, ("STRONGLY_TYPED",)), (TRT11, ())])
def test_tensorrt_10_and_11_build_strongly_typed_networks_from_the_graphs(row, flags):
    options = BuildOptions()
    assert _switches(plan_build(row, "fp32", FP32, options)) == (flags, (), ("TF32",), False)
    assert _switches(plan_build(row, "fp16", FP16, options)) == (flags, (), (), False)
    assert _switches(plan_build(row, "int8", QDQ, options)) == (flags, (), (), False)
    assert _switches(plan_build(row, "int8", FP16, options)) == (flags, (), (), False)
    # a precision the graph does not hold would be a silent downgrade: refused, with the command
    with pytest.raises(InputError, match="strongly typed.*needs the FP16 graph, got the FP32 graph.*--precision fp16"):
        plan_build(row, "fp16", FP32, options)
    with pytest.raises(InputError, match="needs the Q/DQ graph.*got the FP32 graph"):
        plan_build(row, "int8", FP32, options, calibration=True)
    with pytest.raises(InputError, match="needs the FP32 graph, got the FP16 graph"):
        plan_build(row, "fp32", FP16, options)


def test_refusals_on_tensorrt_8_name_what_to_build():
    with pytest.raises(InputError, match="Q/DQ graph, or the FP32 graph with a calibration set.*no calibration set"):
        plan_build(JETPACK5, "int8", FP32, BuildOptions())
    with pytest.raises(InputError, match="an fp32 engine.*needs the FP32 graph, got the Q/DQ"):
        plan_build(JETPACK5, "fp32", QDQ, BuildOptions())
    with pytest.raises(InputError, match="an fp16 engine.*got the Q/DQ"):
        plan_build(JETPACK5, "fp16", QDQ, BuildOptions())
    with pytest.raises(InputError, match="unknown precision"):
        plan_build(JETPACK5, "bf16", FP32, BuildOptions())


def test_options_become_switches_where_the_release_has_them():
    options = BuildOptions(workspace_mib=512, optimization_level=5, dla_core=1, timing_cache=False)
    plan = plan_build(JETPACK6, "fp16", FP16, options)
    assert (plan.workspace_bytes, plan.optimization_level, plan.dla_core, plan.timing_cache) == (512 << 20, 5, 1, False)
    assert plan.set_flags == ("GPU_FALLBACK",)
    assert plan_build(JETPACK5, "int8", QDQ, BuildOptions(dla_core=0, gpu_fallback=False)).set_flags == ("INT8",)
    with pytest.raises(InputError, match="optimisation levels need TensorRT 8.6"):
        plan_build(features("8.5.2"), "fp16", FP16, BuildOptions(optimization_level=2))
    with pytest.raises(InputError, match="does not build for DLA"):
        plan_build(DESKTOP10, "fp16", FP16, BuildOptions(dla_core=0))
    with pytest.raises(InputError, match="DLA runs FP16 and INT8 only"):
        plan_build(JETPACK6, "fp32", FP32, BuildOptions(dla_core=0))


@pytest.mark.parametrize("values, match", [
    ({"workspace_mib": 0}, "workspace_mib"), ({"workspace_mib": 1.5}, "workspace_mib"),
    ({"optimization_level": 6}, "optimization_level"), ({"optimization_level": True}, "optimization_level"),
    ({"dla_core": -1}, "dla_core"), ({"gpu_fallback": "yes"}, "gpu_fallback"), ({"workspace": 64}, "unknown"),
])
def test_bad_build_options_are_refused(values, match):
    with pytest.raises(ConfigError, match=match):
        BuildOptions.from_dict(values)


def test_graph_kinds_by_name():
    assert [GraphKind.named(n).name for n in ("fp32", "fp16", "qdq", "qdq+fp16")] == ["fp32", "fp16", "qdq", "qdq+fp16"]
    with pytest.raises(InputError, match="unknown graph kind"):
        GraphKind.named("int4")


RTX = features("1.7.1.116", "rtx")


def test_an_fp32_fallback_is_built_as_fp32_inside_an_fp16_or_int8_set():
    """Issue 24, defect 2: AFF-ATOM's classifier learning, recorded as run in FP32 at fp16/int8, gets an FP32 engine."""
    why = "the classifier's Gauss-Newton/CG solver: no FP16 graph kept its outputs within the FP16 tolerance"
    for release in (JETPACK6, DESKTOP10, TRT11, RTX):
        for precision in ("fp16", "int8"):
            with pytest.raises(InputError, match="needs the FP16 graph|needs the Q/DQ graph"):
                plan_build(release, precision, FP32, BuildOptions())  # without the manifest's record: refused
            plan = plan_build(release, precision, FP32, BuildOptions(), fallback=why)
            assert plan.clear_flags == ("TF32",) and plan.set_flags == () and plan.fallback == why
    with pytest.raises(InputError, match="built from the FP32 graph, got the FP16 graph"):
        plan_build(DESKTOP10, "fp16", FP16, BuildOptions(), fallback=why)


def test_tensorrt_rtx_is_strongly_typed_with_targets_and_no_timing_cache():
    """Issue 24, defect 7: no timing cache on RTX (deprecated no-ops that log CUDA errors when reloaded)."""
    options = BuildOptions(timing_cache=True)
    assert _switches(plan_build(RTX, "fp32", FP32, options)) == ((), (), ("TF32",), False)
    assert _switches(plan_build(RTX, "fp16", FP16, options)) == ((), (), (), False)
    assert _switches(plan_build(RTX, "int8", QDQ, options)) == ((), (), (), False)
    assert plan_build(RTX, "fp16", FP16, options).timing_cache is False
    assert plan_build(DESKTOP10, "fp16", FP16, options).timing_cache is True
    assert plan_build(RTX, "fp16", FP16, BuildOptions(compute_capabilities="sm75")).compute_capabilities == ("sm75",)
    with pytest.raises(InputError, match="needs the FP16 graph"):
        plan_build(RTX, "fp16", FP32, options)
    with pytest.raises(InputError, match="TensorRT-RTX option"):
        plan_build(DESKTOP10, "fp16", FP16, BuildOptions(compute_capabilities=("sm86",)))
    with pytest.raises(InputError, match="does not build for DLA"):
        plan_build(RTX, "fp16", FP16, BuildOptions(dla_core=0))
    with pytest.raises(InputError, match=r"unknown compute capability target\(s\) \['sm90'\]"):
        BuildOptions(compute_capabilities=("sm90",))
