"""Run our TensorRT code paths against one version's real bindings through the API-surface checker.

Run by ``test_api_conformance.py`` in a subprocess whose ``PYTHONPATH`` holds the unpacked
``tensorrt_bindings`` wheel and whose ``LD_LIBRARY_PATH`` holds stub libraries (``bindings.py``):
``python -m tests.tensorrt.conformance_probe [--foreign-plan VERSION]``. Prints one JSON object:
the bindings' version, every TensorRT name and call our code used (``calls``), and every mismatch
(``problems``). A check of our calls against TensorRT's API surface, not a test of TensorRT.

The paths run are the ones our version dispatch takes for the bindings' version: the engine build
(``EngineFromOnnx``) for every precision and graph kind ``plan_build`` accepts on that release,
with and without the options (workspace, optimisation level, DLA) it allows there, the timing cache
new and reused, the parser-error and build-failure paths, the legacy calibrator where it exists;
and the runner's life cycle (activate on a DLA core where documented, host and device feeds,
outputs to the host or left on the device, CUDA-event timing, deactivate). pycuda is stood in for
by :class:`PycudaDouble` (it is not what is checked here).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import tensorrt_bindings as real_trt

from edge_tracker.backends.arrays import DeviceArray
from edge_tracker.backends.tensorrt import CudaDevice, TensorRTRunner, trt_logger
from edge_tracker.backends.trt_io import INPUT, OUTPUT, TensorIO
from edge_tracker.errors import EdgeTrackerError
from export.tensorrt import BuildOptions, DeviceInfo
from export.tensorrt.build import EngineFromOnnx, build_serialized_engine
from export.tensorrt.plan import GraphKind, plan_build
from export.tensorrt_support import features
from tests.tensorrt.api_surface import Surface
from tests.tensorrt.graphs import tiny_graph

IO = [TensorIO("x", INPUT, (1, 4), np.dtype(np.float32)), TensorIO("y", OUTPUT, (1, 4), np.dtype(np.float32))]


def scenario_values(io: list[TensorIO]) -> dict:
    """What the engine, network and tensors report along the paths: ``io``, in TensorRT's own objects."""
    trt = real_trt
    dtypes = {np.dtype(np.float32): trt.DataType.FLOAT, np.dtype(np.float16): trt.DataType.HALF}
    inputs, outputs = [t for t in io if t.mode == INPUT], [t for t in io if t.mode == OUTPUT]

    def tensor(t, surface):
        from tests.tensorrt.api_surface import SurfaceObject
        return SurfaceObject(surface, trt.ITensor, {"name": t.name, "shape": trt.Dims(list(t.shape)),
                                                    "dtype": dtypes[t.dtype]})

    by_name = {t.name: t for t in io}
    return {
        "ICudaEngine.num_io_tensors": lambda: len(io),
        "ICudaEngine.get_tensor_name": lambda i: io[i].name,
        "ICudaEngine.get_tensor_mode": lambda n: trt.TensorIOMode.INPUT if by_name[n].mode == INPUT else trt.TensorIOMode.OUTPUT,
        "ICudaEngine.get_tensor_shape": lambda n: trt.Dims(list(by_name[n].shape)),
        "ICudaEngine.get_tensor_dtype": lambda n: dtypes[by_name[n].dtype],
        "INetworkDefinition.num_inputs": lambda: len(inputs),
        "INetworkDefinition.num_outputs": lambda: len(outputs),
        "Builder.num_DLA_cores": lambda: 2,
        "_tensor": tensor,
        "_inputs": inputs,
        "_outputs": outputs,
    }


def new_surface(io=IO, **overrides) -> Surface:
    values = scenario_values(io)
    surface = Surface(real_trt)
    tensor, inputs, outputs = values.pop("_tensor"), values.pop("_inputs"), values.pop("_outputs")
    values["INetworkDefinition.get_input"] = lambda i: tensor(inputs[i], surface)
    values["INetworkDefinition.get_output"] = lambda i: tensor(outputs[i], surface)
    values.update(overrides)
    surface.values = values
    return surface


class PycudaDouble:
    """Stands in for ``pycuda.driver`` so the runner's TensorRT calls can be walked; pycuda is not checked here."""

    class Error(Exception):
        pass

    class Device:
        def __init__(self, index):
            self.index = index

        @staticmethod
        def count():
            return 1

        def name(self):
            return "double"

        def compute_capability(self):
            return (8, 7)

        def retain_primary_context(self):
            return PycudaDouble.Context()

    class Context:
        def push(self):
            pass

        def pop(self):
            pass

        @staticmethod
        def synchronize():
            pass

    class Stream:
        handle = 0x5000

        def synchronize(self):
            pass

    class Event:
        def record(self, stream=None):
            pass

        def synchronize(self):
            pass

        def time_since(self, other):
            return 0.25

    class Allocation(int):
        def free(self):
            pass

    def __init__(self):
        self._next = 0x10000

    def init(self):
        pass

    def mem_alloc(self, nbytes):
        self._next += (nbytes + 255) // 256 * 256 + 256
        return PycudaDouble.Allocation(self._next)

    @staticmethod
    def pagelocked_empty(shape, dtype):
        return np.zeros(shape, dtype)

    @staticmethod
    def memcpy_htod_async(dst, src, stream=None):
        pass

    @staticmethod
    def memcpy_dtoh_async(dst, src, stream=None):
        pass

    @staticmethod
    def memcpy_htod(dst, src):
        pass


def _graphs(folder: Path) -> dict[str, Path]:
    return {kind: tiny_graph(folder / f"{kind}.onnx", kind) for kind in ("fp32", "fp16", "qdq")}


def build_paths(surface: Surface, version: str, folder: Path, plan_version: str | None = None) -> list[str]:
    """Every build our dispatch allows on ``version`` (or, to show the checker failing, on ``plan_version``)."""
    release = features(plan_version or version)
    device = DeviceInfo("double", (8, 7), version)
    graphs = _graphs(folder)
    option_sets = [BuildOptions(timing_cache=False), BuildOptions(workspace_mib=256)]
    if release.optimization_level:
        option_sets.append(BuildOptions(optimization_level=4))
    if release.dla:
        option_sets.append(BuildOptions(dla_core=1))
    ran = []
    for precision in ("fp32", "fp16", "int8"):
        for kind, graph in graphs.items():
            for calibration in (False, True):
                for options in option_sets:
                    try:
                        plan = plan_build(release, precision, GraphKind.named(kind), options, calibration)
                    except EdgeTrackerError:
                        continue  # refused by our dispatch on this release: not a path we take
                    if calibration and not plan.calibrate:
                        continue  # the same path as without a calibration set
                    timing = folder / f"timing-{len(ran)}.cache"
                    if len(ran) % 2:
                        timing.write_bytes(b"earlier")  # a timing cache on disk: loaded, then merged
                    feeds = (lambda: iter([{"x": np.zeros((1, 4), np.float32)}])) if calibration else None
                    if plan_version is None:
                        EngineFromOnnx(graph, precision, device, options, timing, feeds, folder / "calib.cache",
                                       trt=surface.module, cuda=PycudaDouble())()
                    else:  # another release's switches on these bindings: the checker must object
                        build_serialized_engine(surface.module, graph, plan, timing, lambda trt, inputs: None)
                    ran.append(f"{precision} from {kind}{' calibrated' if plan.calibrate else ''}, "
                               f"options {options.key_fields()}, DLA core {options.dla_core}")
    return ran


def failure_paths(version: str, folder: Path) -> Surface:
    """The parser's errors and a failed build, each reported through the API."""
    surface = new_surface(**{"OnnxParser.parse_from_file": lambda path: False, "OnnxParser.num_errors": lambda: 1})
    plan = plan_build(features(version), "fp32", GraphKind(), BuildOptions(timing_cache=False))
    with contextlib.suppress(EdgeTrackerError):
        build_serialized_engine(surface.module, folder / "fp32.onnx", plan)
    failed = new_surface(**{"Builder.build_serialized_network": lambda network, config: None})
    with contextlib.suppress(EdgeTrackerError):
        build_serialized_engine(failed.module, folder / "fp32.onnx", plan)
    surface.calls |= failed.calls
    surface.problems += failed.problems
    return surface


def runner_paths(surface: Surface, version: str) -> None:
    dla = 0 if features(version).dla else None
    runner = TensorRTRunner("phase", lambda: b"plan", IO, CudaDevice(0, cuda=PycudaDouble()), dla, trt=surface.module)
    with runner:
        runner.infer({"x": np.ones((1, 4), np.float32)})
        runner.infer({"x": DeviceArray(0x9000, (1, 4), np.dtype(np.float32), stream=0x5000)}, copy_outputs_to_host=False)
        assert runner.last_inference_ms == 0.25


def self_check(surface: Surface) -> None:
    """Calls that are wrong on every release, to show what the checker reports (names, arguments, types)."""
    trt = surface.module
    builder = trt.Builder(trt_logger(trt))
    config = builder.create_builder_config()
    config.set_timing_cache(config.create_timing_cache(b""), ignore_mismatches=False)  # misspelt keyword
    builder.create_network(flag=0)  # the argument is called flags
    config.set_flag(trt.MemoryPoolType.WORKSPACE)  # an enum of the wrong type
    engine = trt.Runtime(trt_logger(trt)).deserialize_cuda_engine(b"plan")
    engine.create_execution_context().execute_async_v3()  # the stream is missing
    engine.num_io_tensors = 3  # read-only
    engine.get_binding_index_v9("x")  # no such method


def main(argv=None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--foreign-plan", default=None, help="dispatch as if TensorRT were this version")
    parser.add_argument("--self-check", action="store_true", help="make wrong calls on purpose")
    args = parser.parse_args(argv)
    version = real_trt.__version__
    surface = new_surface()
    if args.self_check:
        self_check(surface)
        print(json.dumps({"version": version, "calls": sorted(surface.calls), "problems": surface.problems,
                          "builds": []}))
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        builds = build_paths(surface, version, folder, args.foreign_plan)
        if args.foreign_plan is None:
            runner_paths(surface, version)
            failures = failure_paths(version, folder)
            surface.calls |= failures.calls
            surface.problems += [p for p in failures.problems if p not in surface.problems]
            for ours in (type(trt_logger(surface.module)), *_calibrator_classes()):
                surface.check_overrides(ours)
    print(json.dumps({"version": version, "calls": sorted(surface.calls), "problems": surface.problems,
                      "builds": builds, "facts": facts()}))
    return 0


def facts() -> dict[str, bool]:
    """Which of the names our feature table (``export.tensorrt_support.features``) is about exist here."""
    flags, creation = real_trt.BuilderFlag.__members__, real_trt.NetworkDefinitionCreationFlag.__members__
    return {"BuilderFlag.FP16": "FP16" in flags, "BuilderFlag.INT8": "INT8" in flags,
            "NetworkDefinitionCreationFlag.EXPLICIT_BATCH": "EXPLICIT_BATCH" in creation,
            "NetworkDefinitionCreationFlag.STRONGLY_TYPED": "STRONGLY_TYPED" in creation,
            "IInt8EntropyCalibrator2": hasattr(real_trt, "IInt8EntropyCalibrator2"),
            "IBuilderConfig.int8_calibrator": hasattr(real_trt.IBuilderConfig, "int8_calibrator"),
            "IBuilderConfig.builder_optimization_level": hasattr(real_trt.IBuilderConfig, "builder_optimization_level"),
            "IExecutionContext.execute_async_v3": hasattr(real_trt.IExecutionContext, "execute_async_v3"),
            "IExecutionContext.set_tensor_address": hasattr(real_trt.IExecutionContext, "set_tensor_address")}


def _calibrator_classes():
    from export.tensorrt import calibrator

    if not features(real_trt.__version__).legacy_calibrator:
        return []  # not on this release's path (deprecated in 10.x, removed in 11.x)
    made = calibrator.entropy_calibrator(real_trt, PycudaDouble(), [], IO[:1], None)
    return [type(made)]


if __name__ == "__main__":
    sys.exit(main())

