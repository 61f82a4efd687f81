"""Building one engine from one ONNX graph, against TensorRT's documented Python API.

:class:`EngineFromOnnx` is a lazy loader in Polygraphy's manner: it stores what to build and
builds when called, returning a :class:`~export.tensorrt.cache.BuiltEngine` for the cache. The
steps, the same on every release, with the switches :func:`~export.tensorrt.plan.plan_build`
chose for the running TensorRT:

1. ``trt.Builder(logger)``; ``builder.create_network(flags)`` with ``EXPLICIT_BATCH`` (8.5/8.6) or
   ``STRONGLY_TYPED`` (10.x; 11.x networks are always strongly typed);
2. ``trt.OnnxParser(network, logger).parse_from_file(path)``, every parser error reported;
3. ``builder.create_builder_config()``: builder flags set/cleared, the workspace pool limit, the
   optimisation level, DLA core with GPU fallback, the legacy calibrator (8.5/8.6 only), the
   timing cache loaded from beside the engines (TensorRT; never on TensorRT-RTX), the compute
   capability targets (TensorRT-RTX);
4. ``builder.build_serialized_network(network, config)``; the timing cache merged back to disk.

``tensorrt`` (or ``tensorrt_rtx``) comes in as an argument or is imported at call time
(``import_tensorrt``), never at module import. TensorRT needs a GPU: the build runs on the device
the engine is for. TensorRT-RTX builds without one (its CPU-only ahead-of-time build).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edge_tracker.backends.trt_io import INPUT, OUTPUT, TensorIO
from edge_tracker.deps import require
from edge_tracker.errors import ExportError, InputError
from export.tensorrt.cache import BuiltEngine, DeviceInfo
from export.tensorrt.files import atomic_write_bytes, file_lock
from export.tensorrt.options import BuildOptions
from export.tensorrt.plan import BuildPlan, GraphKind, plan_build
from export.tensorrt_support import RTX_DEFAULT_TARGETS, features, product_of

logger = logging.getLogger("edge_tracker.export.tensorrt")

QDQ_OPS = frozenset({"QuantizeLinear", "DequantizeLinear"})


class EngineBuildError(ExportError):
    """TensorRT could not parse a graph or build an engine from it."""


def graph_kind(onnx_path: Path) -> GraphKind:
    """What an ONNX graph computes in, read from the graph itself (Q/DQ nodes, float16 tensors)."""
    onnx = require("onnx")
    try:
        model = onnx.load(str(onnx_path), load_external_data=False)
    except Exception as err:  # onnx raises DecodeError and friends for a damaged file
        raise InputError(f"cannot read the ONNX graph {onnx_path}: {err}") from err
    graph, half = model.graph, onnx.TensorProto.FLOAT16
    ops = {node.op_type for node in graph.node}
    typed = [*graph.input, *graph.output, *graph.value_info]
    fp16 = (any(init.data_type == half for init in graph.initializer)
            or any(info.type.tensor_type.elem_type == half for info in typed)
            or any(node.op_type == "Cast" and any(a.name == "to" and a.i == half for a in node.attribute)
                   for node in graph.node))
    return GraphKind(qdq=bool(ops & QDQ_OPS), fp16=fp16)


@dataclass
class EngineFromOnnx:
    """Builds the ``precision`` engine of ``onnx_path`` for ``device`` when called (see the module docstring).

    Args:
        onnx_path: the graph (a variant of an export: FP32, FP16 or Q/DQ).
        precision: the variant asked for ("fp32", "fp16", "int8"): the cache key's precision.
        device: the machine the engine is for; must be the one running (its TensorRT version is checked).
        options: build options.
        timing_cache: where the timing cache of this TensorRT and GPU is kept (None: none used).
        calibration: feeds for the legacy entropy calibrator (int8 from an FP32 graph on 8.5/8.6),
            called when needed: ``() -> iterable of {input name: array}``.
        calibration_cache: the calibrator's cache file (reused when present).
        fallback: why the export runs this phase in FP32 at ``precision`` (its manifest's record):
            the FP32 graph is then built as an FP32 engine.
        trt: the ``tensorrt`` or ``tensorrt_rtx`` module (default: the product ``device`` names, imported when called).
        cuda: ``pycuda.driver`` for the calibrator's buffers (default: imported when calibrating).
    """

    onnx_path: Path
    precision: str
    device: DeviceInfo
    options: BuildOptions
    timing_cache: Path | None = None
    calibration: Callable[[], Iterable[dict[str, np.ndarray]]] | None = None
    calibration_cache: Path | None = None
    trt: Any = None
    cuda: Any = None
    fallback: str | None = None

    def __call__(self) -> BuiltEngine:
        trt = self.trt
        if trt is None:
            from edge_tracker.backends.tensorrt import import_tensorrt
            from export.tensorrt_support import product_named

            trt = import_tensorrt("building a TensorRT engine", "The ONNX graphs are usable with --backend ort",
                                  (product_named(self.device.product).module,))
        product = product_of(trt)
        release = features(trt.__version__, product.key)
        if (product.key, release.version) != (self.device.product, self.device.tensorrt_version):
            raise InputError(f"the engine is keyed for {self.device.product_name} {self.device.tensorrt_version}, but "
                             f"{product.name} {release.version} is running: build on the machine the engine is for")
        kind = graph_kind(self.onnx_path)
        plan = plan_build(release, self.precision, kind, self.options, calibration=self.calibration is not None,
                          fallback=self.fallback)
        start = time.perf_counter()  # a host clock is right here: the build is synchronous
        plan_bytes, io = build_serialized_engine(trt, self.onnx_path, plan, self.timing_cache, self._calibrator)
        seconds = time.perf_counter() - start
        logger.info("built %s (%s) in %.0f s: %.1f MB", self.onnx_path.name, self.precision, seconds, len(plan_bytes) / 1e6)
        record = {"graph": kind.name, "seconds": round(seconds, 1), "tensorrt": str(release.version),
                  "product": product.key, "product_name": product.name,
                  "switches": {"network_flags": list(plan.network_flags), "set_flags": list(plan.set_flags),
                               "clear_flags": list(plan.clear_flags), "calibrated": plan.calibrate,
                               "timing_cache": plan.timing_cache,
                               "compute_capabilities": list(plan.compute_capabilities) or "default"},
                  "options": self.options.as_dict()}
        if product.key == "rtx":
            record["compute_capabilities"] = list(plan.compute_capabilities) or ["default", *RTX_DEFAULT_TARGETS]
        if plan.fallback is not None:
            record["fallback"] = {"precision": "fp32", "why": plan.fallback}
        return BuiltEngine(plan_bytes, io, record)

    def _calibrator(self, trt, inputs: list[TensorIO]):
        from edge_tracker.backends.tensorrt import import_gpu_runtime  # the calibrator's buffers need pycuda
        from export.tensorrt.calibrator import entropy_calibrator

        cuda = self.cuda if self.cuda is not None else import_gpu_runtime(
            "INT8 calibration for TensorRT", "Or build the Q/DQ int8 graph (python -m export build --precision int8)")[1]
        return entropy_calibrator(trt, cuda, self.calibration(), inputs, self.calibration_cache)


def build_serialized_engine(trt, onnx_path: Path, plan: BuildPlan, timing_cache: Path | None = None,
                            calibrator: Callable[[Any, list[TensorIO]], Any] | None = None) -> tuple[bytes, list[TensorIO]]:
    """Parse ``onnx_path`` and build it with ``plan``'s switches -> ``(plan bytes, I/O)`` (steps 1-4 above)."""
    from edge_tracker.backends.tensorrt import trt_logger

    log = trt_logger(trt)
    builder = trt.Builder(log)
    flags = 0
    for name in plan.network_flags:
        flags |= 1 << int(getattr(trt.NetworkDefinitionCreationFlag, name))
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, log)
    if not parser.parse_from_file(str(onnx_path)):
        errors = [str(parser.get_error(i)) for i in range(parser.num_errors)]
        raise EngineBuildError(f"TensorRT's ONNX parser refused {onnx_path}: {'; '.join(errors) or 'no reason given'}")
    io = network_io(trt, network)

    config = builder.create_builder_config()
    for name in plan.set_flags:
        config.set_flag(getattr(trt.BuilderFlag, name))
    for name in plan.clear_flags:
        config.clear_flag(getattr(trt.BuilderFlag, name))
    if plan.workspace_bytes is not None:
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, plan.workspace_bytes)
    if plan.optimization_level is not None:
        config.builder_optimization_level = plan.optimization_level
    if plan.compute_capabilities:  # TensorRT-RTX: the GPUs the plan will run on (default: its portable set)
        config.num_compute_capabilities = len(plan.compute_capabilities)
        for index, target in enumerate(plan.compute_capabilities):
            config.set_compute_capability(getattr(trt.ComputeCapability, target.upper()), index)
    if plan.dla_core is not None:
        cores = builder.num_DLA_cores
        if plan.dla_core >= cores:
            raise InputError(f"DLA core {plan.dla_core} asked for, but this device has {cores} DLA core(s)")
        config.default_device_type = trt.DeviceType.DLA
        config.DLA_core = plan.dla_core
    calibrating = None  # held here until the build is done: TensorRT calls it during the build
    if plan.calibrate:
        if calibrator is None:
            raise InputError("this build needs a calibration set for the legacy INT8 calibrator")
        calibrating = calibrator(trt, [t for t in io if t.mode == INPUT])
        config.int8_calibrator = calibrating
    cache = _load_timing_cache(config, timing_cache) if plan.timing_cache and timing_cache is not None else None

    serialized = builder.build_serialized_network(network, config)
    del calibrating
    if serialized is None:
        raise EngineBuildError(f"TensorRT could not build an engine from {onnx_path} (its log above says why)")
    if cache is not None:
        _save_timing_cache(config, timing_cache)
    return bytes(serialized), io


def network_io(trt, network) -> list[TensorIO]:
    """The parsed network's inputs then outputs (names, static shapes, dtypes), for the manifest."""
    def record(tensor, mode: str) -> TensorIO:
        return TensorIO(tensor.name, mode, tuple(int(d) for d in tensor.shape), np.dtype(trt.nptype(tensor.dtype)))

    return ([record(network.get_input(i), INPUT) for i in range(network.num_inputs)]
            + [record(network.get_output(i), OUTPUT) for i in range(network.num_outputs)])


def _load_timing_cache(config, path: Path):
    data = path.read_bytes() if path.is_file() else b""
    cache = config.create_timing_cache(data)
    if not config.set_timing_cache(cache, ignore_mismatch=False):
        logger.warning("the timing cache %s is of another TensorRT or GPU: starting a new one", path.name)
        cache = config.create_timing_cache(b"")
        config.set_timing_cache(cache, ignore_mismatch=False)
    return cache


def _save_timing_cache(config, path: Path) -> None:
    """Merge what this build measured into the timing cache on disk (other builds may have added to it)."""
    with file_lock(path.with_name(path.name + ".lock")):
        updated = config.get_timing_cache()
        if path.is_file():
            on_disk = config.create_timing_cache(path.read_bytes())
            updated.combine(on_disk, ignore_mismatch=True)  # a mismatched file is simply replaced
        atomic_write_bytes(path, bytes(updated.serialize()))
