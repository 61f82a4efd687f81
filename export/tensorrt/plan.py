"""The version dispatch of an engine build, as data: which network and builder switches to set.

:func:`plan_build` is a pure function of (TensorRT features, precision, the graph's kind, options):
it decides everything that differs between TensorRT 8.5/8.6, 10.x and 11.x, and refuses the
combinations a release cannot build honestly, so CI tests every branch without TensorRT.
``export.tensorrt.build`` then resolves the names against the ``tensorrt`` module and calls it.

The rule on every release: **precision is a property of the graph** (DESIGN principle 3).

- 10.x and 11.x build strongly typed networks: the FP32 graph gives an FP32 engine, the FP16 graph
  an FP16 engine, the Q/DQ graph an INT8 engine; no precision flag exists (11.x) or is used (10.x).
- 8.5/8.6 build weakly typed networks with explicit batch, where the builder flags choose the
  precision: FP16 with the FP16 (or FP32) graph, INT8 with the Q/DQ graph, or INT8 with the legacy
  entropy calibrator over a calibration set for the FP32 graph.
- An FP32 build clears TF32, so "fp32" means FP32 arithmetic on Ampere and newer as well.
- A phase whose export manifest records an FP32 fallback for this precision (AFF-ATOM's classifier
  learning, when no FP16 graph kept its tolerance; ``fallback`` is the recorded why) is built as
  an FP32 engine inside the fp16/int8 engine set, and its build record says so.
- TensorRT-RTX (strongly typed, like 11.x) builds for ``compute_capabilities`` (none: its portable
  default set) and never uses a timing cache.
- A request that would silently give another precision (fp16 from the FP32 graph on 10.x, int8
  without Q/DQ or calibration) is refused with what to build instead.
"""

from __future__ import annotations

from dataclasses import dataclass

from edge_tracker.errors import InputError
from export.tensorrt.options import BuildOptions
from export.tensorrt_support import TensorRTFeatures

PRECISIONS = ("fp32", "fp16", "int8")


@dataclass(frozen=True)
class GraphKind:
    """What an ONNX graph computes in: float32 only, float16 parts, explicit Q/DQ INT8, or both."""

    qdq: bool = False   # QuantizeLinear/DequantizeLinear pairs (the INT8 graphs)
    fp16: bool = False  # float16 tensors (the FP16 graphs; float32 I/O kept)

    @property
    def name(self) -> str:
        return {(False, False): "fp32", (False, True): "fp16", (True, False): "qdq",
                (True, True): "qdq+fp16"}[(self.qdq, self.fp16)]

    @property
    def description(self) -> str:
        return {"fp32": "FP32 graph", "fp16": "FP16 graph", "qdq": "Q/DQ (INT8) graph",
                "qdq+fp16": "Q/DQ (INT8) graph with FP16 parts"}[self.name]

    @classmethod
    def named(cls, name: str) -> GraphKind:
        kinds = {"fp32": cls(), "fp16": cls(fp16=True), "qdq": cls(qdq=True), "qdq+fp16": cls(True, True)}
        if name not in kinds:
            raise InputError(f"unknown graph kind {name!r}; expected one of {list(kinds)}")
        return kinds[name]


@dataclass(frozen=True)
class BuildPlan:
    """The switches of one engine build, by TensorRT member name (resolved at build time)."""

    network_flags: tuple[str, ...]  # NetworkDefinitionCreationFlag members OR-ed into create_network
    set_flags: tuple[str, ...]      # BuilderFlag members to set on the builder config
    clear_flags: tuple[str, ...]    # BuilderFlag members to clear
    workspace_bytes: int | None     # MemoryPoolType.WORKSPACE limit; None: TensorRT's default
    optimization_level: int | None  # builder_optimization_level; None: TensorRT's default
    dla_core: int | None            # default_device_type = DLA and DLA_core; None: the GPU
    calibrate: bool                 # attach the legacy entropy calibrator (8.5/8.6, int8 from FP32)
    timing_cache: bool              # load and save the timing cache beside the engines
    compute_capabilities: tuple[str, ...] = ()  # TensorRT-RTX targets ("sm86", ...); (): its default set
    fallback: str | None = None     # why an fp16/int8 engine is built from the FP32 graph (manifest's record)


def plan_build(features: TensorRTFeatures, precision: str, graph: GraphKind, options: BuildOptions,
               calibration: bool = False, fallback: str | None = None) -> BuildPlan:
    """The switches for building a ``precision`` engine from a ``graph`` on ``features``' release.

    ``precision`` is the variant asked for (the cache key's label); ``graph`` what the ONNX holds.
    The int8 variant of a phase where INT8 does not pay is its FP16 graph (``export.build``), so
    int8 accepts FP16 graphs too. ``calibration``: a calibration set is at hand (used only where
    the legacy calibrator is the way: int8 from the FP32 graph on 8.5/8.6). ``fallback``: the
    export manifest's reason for running this phase in FP32 at ``precision`` (an FP32 graph is then
    built as an FP32 engine). InputError names the graph or release to use instead.
    """
    if precision not in PRECISIONS:
        raise InputError(f"unknown precision {precision!r}; choose one of {list(PRECISIONS)}")
    where = f"{'TensorRT-RTX' if features.product == 'rtx' else 'TensorRT'} {features.version} ({features.line})"
    typed = features.strongly_typed
    calibrate = False
    if fallback is not None and precision != "fp32":
        if graph.name != "fp32":
            raise InputError(f"an FP32 fallback ({fallback}) is built from the FP32 graph, got the {graph.description}")
        precision, calibration = "fp32", False  # the recorded fallback: an FP32 engine in the fp16/int8 set
    if options.compute_capabilities and not features.compute_targets:
        raise InputError(f"{where} builds for the GPU it runs on; compute capability targets "
                         f"{list(options.compute_capabilities)} are a TensorRT-RTX option: leave them unset")
    if precision == "fp32":
        ok = graph.name == "fp32"
    elif precision == "fp16":
        ok = graph.name == "fp16" or (graph.name == "fp32" and not typed)
    else:
        calibrate = graph.name == "fp32" and calibration and not typed
        ok = graph.qdq or graph.name == "fp16" or calibrate
    if not ok:
        raise InputError(_refusal(where, typed, precision, graph, calibration))
    if calibration and precision == "int8" and typed and not graph.qdq:
        raise InputError(_refusal(where, typed, precision, graph, calibration))

    set_flags: list[str] = []
    if not typed:  # 8.5/8.6: the builder flags choose the precision the graph was made for
        if precision == "fp16" or graph.fp16:
            set_flags.append("FP16")
        if graph.qdq or calibrate:
            set_flags.append("INT8")
    network_flags = (("STRONGLY_TYPED",) if features.strongly_typed_flag else ()) + \
                    (("EXPLICIT_BATCH",) if features.explicit_batch_flag else ())
    clear_flags = ("TF32",) if precision == "fp32" else ()

    if options.optimization_level is not None and not features.optimization_level:
        raise InputError(f"builder optimisation levels need TensorRT 8.6 or newer; this is {where}: "
                         "leave optimization_level unset")
    if options.dla_core is not None:
        if not features.dla:
            raise InputError(f"{where} does not build for DLA (TensorRT documents DLA on 8.5/8.6, 10.0-10.7 "
                             "and 11.4.1+ on Jetson AGX Orin); leave dla_core unset to run on the GPU")
        if precision == "fp32":
            raise InputError("DLA runs FP16 and INT8 only: build an fp16 or int8 engine for dla_core "
                             f"{options.dla_core}, or leave dla_core unset")
        if options.gpu_fallback:
            set_flags.append("GPU_FALLBACK")
    return BuildPlan(network_flags=network_flags, set_flags=tuple(set_flags), clear_flags=clear_flags,
                     workspace_bytes=options.workspace_bytes, optimization_level=options.optimization_level,
                     dla_core=options.dla_core, calibrate=calibrate,
                     timing_cache=options.timing_cache and features.timing_cache,
                     compute_capabilities=options.compute_capabilities, fallback=fallback)


def _refusal(where: str, typed: bool, precision: str, graph: GraphKind, calibration: bool) -> str:
    if typed:
        wanted = {"fp32": "the FP32 graph", "fp16": "the FP16 graph",
                  "int8": "the Q/DQ graph (or, for a phase kept at FP16, the FP16 graph)"}[precision]
        text = (f"{where} builds strongly typed networks, whose precision is the graph's: an {precision} engine "
                f"needs {wanted}, got the {graph.description}")
        if calibration and precision == "int8":
            text += "; the legacy INT8 calibrator is not used there (removed in 11.x)"
    else:
        wanted = {"fp32": "the FP32 graph", "fp16": "the FP16 or FP32 graph",
                  "int8": "the Q/DQ graph, or the FP32 graph with a calibration set (legacy entropy calibrator)"}
        text = f"an {precision} engine on {where} needs {wanted[precision]}, got the {graph.description}"
        if precision == "int8" and graph.name == "fp32" and not calibration:
            text += " and no calibration set"
    return f"{text}; build the variant with `python -m export build --precision {precision}`"
