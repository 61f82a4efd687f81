"""Real engines in CI: TensorRT-RTX parses and builds every phase of both demo trackers at fp32, fp16 and int8.

What this tests, with the real TensorRT-RTX library (``tensorrt_rtx``, the ``rtx`` extra that
``make test`` installs) and no GPU: our graphs (the demo checkpoints' exports and their FP16 and
Q/DQ INT8 graphs, built here from a small calibration set cut from a generated clip) and our build
code (``export.tensorrt``: ``engines_for_export`` -> ``EngineFromOnnx`` -> the parser and the
builder, through the engine cache). For every phase and precision it asserts that

- TensorRT-RTX's ONNX parser takes the graph (a parse error fails the build with the parser's errors);
- the parsed network's input and output names, shapes and dtypes are the export manifest's;
- the plan is non-empty and stored in the engine cache with its manifest (sha256, key with
  product, version and compute capability targets);
- a second build of the same export hits the cache (nothing rebuilt, ``--no-build`` finds it).

What it does not cover: running a plan. TensorRT-RTX compiles a plan's kernels just in time on
an RTX GPU (Ampere to Blackwell, Turing with sm75), so kernels, outputs against ONNX Runtime and
the runner's chaining are tested by the ``gpu``-marked tests on such a machine
(``test_gpu_tensorrt.py``). Nor does it cover TensorRT itself (8.6/10.x/11.x; Jetson): our calls
against those bindings are checked by ``test_api_conformance.py``.

It skips only when ``tensorrt_rtx`` is not importable (the package index was unreachable when
the environment was made), and says so.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from edge_tracker.datasets.synthetic import SyntheticConfig, generate_sequence
from edge_tracker.manifest import read_manifest
from export.tensorrt import BuildOptions, DeviceInfo, EngineCache, EngineCacheError
from export.tensorrt.engines import engines_for_export

try:
    import tensorrt_rtx
except (ImportError, OSError) as err:  # OSError: its libraries failed to load
    pytestmark = pytest.mark.skip(reason=f"TensorRT-RTX is not importable here ({err}): `make test` installs it "
                                         "(pip install 'edge-tracker[rtx]'); was the package index unreachable?")
    tensorrt_rtx = None

PRECISIONS = ("fp32", "fp16", "int8")
TRACKERS = ("scs-siam", "aff-atom")
CALIBRATION_IMAGES = 24  # per every-frame phase: enough for MinMax scales, small enough for 2 cores


@pytest.fixture(scope="module")
def builds(tmp_path_factory):
    """``{tracker: export folder}``: each demo checkpoint's export with its fp16 and int8 graphs."""
    from calibration.builder import SamplingParams, build_calibration_set
    from calibration.sources import parse_source
    from edge_tracker.demo import demo_export
    from export.cli import main as export_main

    root = tmp_path_factory.mktemp("rtx")
    clip = generate_sequence(7, SyntheticConfig(num_frames=30)).write(root / "clip")
    folders = {}
    for tracker in TRACKERS:
        onnx_dir = demo_export(tracker)  # the demo's FP32 export, cached in the user cache across runs
        calib = root / f"{tracker}-calib"
        build_calibration_set([parse_source(str(clip))], calib, tracker=tracker, model=onnx_dir,
                              params=SamplingParams(size=CALIBRATION_IMAGES, episode_length=4, seed=2))
        out = root / tracker
        code = export_main(["-q", "build", "--tracker", tracker, "--onnx", str(onnx_dir), "--calib", str(calib),
                            "--precision", ",".join(PRECISIONS), "--out", str(out), "--graphs-only"])
        assert code == 0, f"the {tracker} precision graphs failed to build (exit {code})"
        folders[tracker] = out
    return folders


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return EngineCache(tmp_path_factory.mktemp("rtx-engines"))


@pytest.fixture(scope="module")
def device():
    return DeviceInfo.portable(tensorrt_rtx.__version__)


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("tracker", TRACKERS)
def test_every_phase_parses_and_builds(builds, cache, device, tracker, precision):
    export = builds[tracker]
    manifest = read_manifest(export)
    name, engines = engines_for_export(export, precision, cache, device, BuildOptions(), trt=tensorrt_rtx)
    assert name == tracker and set(engines) == {phase["name"] for phase in manifest["phases"]}
    for phase in manifest["phases"]:
        entry = engines[phase["name"]]
        expected = {(s["name"], "input", tuple(s["shape"]), np.dtype(s["dtype"])) for s in phase["inputs"]} | \
                   {(s["name"], "output", tuple(s["shape"]), np.dtype(s["dtype"])) for s in phase["outputs"]}
        parsed = {(t.name, t.mode, tuple(t.shape), np.dtype(t.dtype)) for t in entry.io}
        assert parsed == expected, f"{tracker} {phase['name']} {precision}: the parsed network's I/O differ"
        assert entry.plan_path.is_file() and entry.plan_path.stat().st_size > 0 and entry.manifest_path.is_file()
        assert entry.manifest["plan"]["bytes"] == entry.plan_path.stat().st_size
        key = entry.manifest["key"]
        assert (key["product"], key["tensorrt_version"], key["targets"], key["precision"]) == \
            ("rtx", str(device.tensorrt_version), "default", precision)
        record = entry.manifest["build"]
        assert record["product"] == "rtx" and record["switches"]["timing_cache"] is False
        variant = phase["variants"][precision]
        if precision != "fp32" and variant["precision"] == "fp32":  # defect 2: the recorded FP32 fallback
            assert record["graph"] == "fp32" and record["fallback"]["why"] == variant["why"]
        else:
            assert record["graph"] == {"fp32": "fp32", "fp16": "fp16", "int8": "qdq"}[variant["precision"]]


@pytest.mark.parametrize("tracker", TRACKERS)
def test_a_second_build_hits_the_cache(builds, cache, device, tracker):
    for precision in PRECISIONS:
        first = engines_for_export(builds[tracker], precision, cache, device, trt=tensorrt_rtx)[1]
        stamps = {phase: entry.plan_path.stat().st_mtime_ns for phase, entry in first.items()}
        start = time.perf_counter()
        again = engines_for_export(builds[tracker], precision, cache, device, trt=tensorrt_rtx)[1]
        assert time.perf_counter() - start < 5.0  # a lookup, not a build
        assert {phase: entry.plan_path.stat().st_mtime_ns for phase, entry in again.items()} == stamps
        found = engines_for_export(builds[tracker], precision, cache, device, build=False)[1]  # --no-build
        assert {p: e.plan_path for p, e in found.items()} == {p: e.plan_path for p, e in first.items()}


def test_compute_capability_targets_are_a_key_field(builds, cache, device):
    """sm75 (Turing) only when asked for: another key, another plan, built for that target."""
    with pytest.raises(EngineCacheError, match=r"foreign: .*\(targets default\); this machine has .*\(targets sm75\)"):
        engines_for_export(builds["scs-siam"], "fp16", cache, device, BuildOptions(compute_capabilities=("sm75",)),
                           build=False)
    _, engines = engines_for_export(builds["scs-siam"], "fp16", cache, device,
                                    BuildOptions(compute_capabilities=("sm75",)), trt=tensorrt_rtx)
    for entry in engines.values():
        assert entry.manifest["key"]["targets"] == "sm75" and entry.manifest["build"]["compute_capabilities"] == ["sm75"]


def test_the_engine_step_of_export_build_runs_without_a_gpu(builds, cache, capsys):
    """Issue 24, defects 3 and 6: the CLI's engine step names the device by what DeviceInfo has, opens no GPU
    and imports no pycuda for TensorRT-RTX (the plans are in the cache already: every one is a hit)."""
    from export.build_cli import build_engines

    for tracker in TRACKERS:
        assert build_engines(builds[tracker], list(PRECISIONS), cache.root, "rtx") == 0
    out = capsys.readouterr().out
    assert out.count("TensorRT-RTX 1.") == 2 * len(PRECISIONS) and "portable plans" in out
