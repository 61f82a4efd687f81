"""Our TensorRT calls checked against TensorRT's real Python API, for 8.6.1, 10.3.0, 10.13.3.9 and 11.4.0.106.

**A check of our calls against TensorRT's real API surface, not a test of TensorRT.** NVIDIA's
bindings wheels (the ``tensorrt`` extension module without its libraries) are downloaded once and
imported with stub libraries (``bindings.py``); nothing in them can run. Our engine build and
runner are then walked, in a subprocess per version, along the path our version dispatch takes
for that version, through ``api_surface.Surface``: every TensorRT class, method, property and
enum member they use must exist in that version, every call must match one of its real signatures
(keyword names included), every overridden interface method must keep TensorRT's argument names.
Whether TensorRT accepts the values and computes the right thing is for the ``gpu`` tests and the
Jetson self-test.

Skips with the reason when the package index or a C compiler is not reachable.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from export.tensorrt_support import features
from tests.conftest import REPO_ROOT
from tests.tensorrt.bindings import WHEELS, prepare

VERSIONS = tuple(WHEELS)


@pytest.fixture(scope="session")
def bindings():
    found = {}

    def get(version: str):
        if version not in found:
            found[version] = prepare(version)
        if isinstance(found[version], str):
            pytest.skip(found[version])
        return found[version]

    return get


def _probe(bindings, version: str, *args: str) -> dict:
    result = subprocess.run([sys.executable, "-m", "tests.tensorrt.conformance_probe", *args], cwd=REPO_ROOT,
                            env=bindings(version).env(REPO_ROOT), capture_output=True, text=True, timeout=120,
                            check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["version"] == version
    return report


@pytest.mark.parametrize("version", VERSIONS)
def test_every_tensorrt_call_on_our_path_exists_in_that_version(bindings, version):
    report = _probe(bindings, version)
    print(f"\nTensorRT {version}: {len(report['calls'])} names and calls, {len(report['builds'])} build paths")
    print("\n".join(f"  {call}" for call in report["calls"]))
    assert report["problems"] == []
    calls = set(report["calls"])
    # the runner's one code path, on every version
    assert {"IExecutionContext.set_tensor_address(name, memory)", "IExecutionContext.execute_async_v3(stream_handle)",
            "ICudaEngine.get_tensor_name(index)", "Runtime.deserialize_cuda_engine(serialized_engine)"} <= calls
    row = features(version)
    if row.precision_flags:  # 8.5/8.6: explicit batch, FP16/INT8 flags, the legacy calibrator
        assert {"NetworkDefinitionCreationFlag.EXPLICIT_BATCH", "BuilderFlag.FP16", "BuilderFlag.INT8",
                "IBuilderConfig.int8_calibrator (set)", "tensorrt.IInt8EntropyCalibrator2 [subclassed]"} <= calls
    else:  # 10.x and 11.x: no precision flag is ever set; 10.x asks for strongly typed networks
        assert not {c for c in calls if c in ("BuilderFlag.FP16", "BuilderFlag.INT8")}
        assert ("NetworkDefinitionCreationFlag.STRONGLY_TYPED" in calls) == row.strongly_typed_flag
    assert ("DeviceType.DLA" in calls) == row.dla


@pytest.mark.parametrize("version", VERSIONS)
def test_the_feature_table_agrees_with_the_real_bindings(bindings, version):
    facts, row = _probe(bindings, version)["facts"], features(version)
    assert facts["BuilderFlag.FP16"] == facts["BuilderFlag.INT8"] == (row.version < (11,))
    assert not row.precision_flags or facts["BuilderFlag.FP16"]
    assert not row.legacy_calibrator or (facts["IInt8EntropyCalibrator2"] and facts["IBuilderConfig.int8_calibrator"])
    assert not row.strongly_typed_flag or facts["NetworkDefinitionCreationFlag.STRONGLY_TYPED"]
    assert not row.explicit_batch_flag or facts["NetworkDefinitionCreationFlag.EXPLICIT_BATCH"]
    assert row.optimization_level == facts["IBuilderConfig.builder_optimization_level"]
    assert facts["IExecutionContext.execute_async_v3"] and facts["IExecutionContext.set_tensor_address"]
    if row.version >= (11,):  # what 11.x removed, as the issue says
        assert not facts["IInt8EntropyCalibrator2"] and not facts["IBuilderConfig.int8_calibrator"]
        assert not facts["NetworkDefinitionCreationFlag.EXPLICIT_BATCH"]
    if row.version < (10,):
        assert not facts["NetworkDefinitionCreationFlag.STRONGLY_TYPED"]


def test_the_checker_reports_wrong_names_arguments_and_types(bindings):
    problems = _probe(bindings, "11.4.0.106", "--self-check")["problems"]
    expected = ["no argument named 'ignore_mismatches'", "no argument named 'flag'",
                "expected a BuilderFlag, got a MemoryPoolType", "argument 'stream_handle' missing",
                "ICudaEngine.num_io_tensors cannot be set", "ICudaEngine.get_binding_index_v9 does not exist"]
    for text in expected:
        assert any(text in problem for problem in problems), (text, problems)
    assert len(problems) == len(expected)


@pytest.mark.parametrize("version, plan_of, missing", [
    ("11.4.0.106", "8.6.1", ["NetworkDefinitionCreationFlag.EXPLICIT_BATCH", "BuilderFlag.FP16", "BuilderFlag.INT8",
                             "IBuilderConfig.int8_calibrator"]),
    ("8.6.1", "10.3.0", ["NetworkDefinitionCreationFlag.STRONGLY_TYPED"]),
])
def test_another_releases_dispatch_would_fail_on_these_bindings(bindings, version, plan_of, missing):
    """Why the dispatch matters: TensorRT 8.6's switches do not exist in 11.4, nor 10.x's in 8.6."""
    problems = _probe(bindings, version, "--foreign-plan", plan_of)["problems"]
    for name in missing:
        assert any(problem.startswith(f"{name} does not exist") for problem in problems), (name, problems)
