"""What each TensorRT version offers, parsed and compared as numbers: the one place that knows.

- **Versions** (:class:`TensorRTVersion`): ``"10.13.3.9"`` -> ``(10, 13, 3, 9)``, compared as
  tuples of integers, never as text (``"10.0" >= "8.6"`` is False as text; torch2trt's calibrator
  switch broke that way).
- **Features per release line** (:func:`features`): what the engine build and the runner may use on
  TensorRT 8.5/8.6 (JetPack 5), 10.x (JetPack 6, desktop) and 11.x. Sources: the TensorRT Python
  API references of each release, the 11.x migration guide and "Working with DLA" pages, and the
  real bindings of 8.6.1, 10.3.0, 10.13.3.9 and 11.4.0.106, against which ``tests/tensorrt``
  checks every TensorRT name our code uses (``test_api_conformance.py``).
- **Products** (:data:`PRODUCTS`): TensorRT (module ``tensorrt``) and TensorRT for RTX (module
  ``tensorrt_rtx``, versions 1.x, its own numbering: 1.7.1 is not TensorRT 1.7). TensorRT-RTX is
  strongly typed only, like 11.x, and builds ahead of time without a GPU for a set of compute
  capabilities (by default 8.0, 8.6, 8.9 and 12.0; Turing's 7.5 only when asked for); its timing
  cache calls are deprecated no-ops, and a runtime cache keeps the JIT-compiled kernels between runs
  (TensorRT-RTX's "CPU-only AOT" and "Runtime cache" pages, and the 1.7.1.116 bindings).
- **ONNX operators** the parser accepts: the operator support matrix of onnx-tensorrt
  (``docs/operators.md``) on its release/8.6-GA branch (TensorRT 8.6, JetPack 5) and its 10.1-GA
  branch (TensorRT 10.x, JetPack 6). We require the ops that *both* mark supported, so one exported
  graph parses on JetPack 5 and 6 alike. Per-op restrictions we rely on are listed in
  ``CONSTANT_INPUTS`` and checked by ``export.graph_check``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import NamedTuple

from edge_tracker.errors import InputError


@dataclass(frozen=True)
class Product:
    """An engine product: what it is called, which Python module it is, and how to get it."""

    key: str      # "tensorrt" or "rtx": the value of --engines and of the engine cache key's product
    name: str     # "TensorRT" or "TensorRT-RTX": its name in messages
    module: str   # the module to import
    hint: str     # how to install it


PRODUCTS = {
    "tensorrt": Product("tensorrt", "TensorRT", "tensorrt",
                        "on a Jetson TensorRT comes with JetPack (sudo apt install python3-libnvinfer; JetPack 5.1+ "
                        "for TensorRT 8.5+), on a desktop GPU from NVIDIA's wheel (pip install tensorrt)"),
    "rtx": Product("rtx", "TensorRT-RTX", "tensorrt_rtx",
                   "TensorRT for RTX GPUs (Turing to Blackwell; Linux x86-64, Windows): "
                   "pip install 'edge-tracker[rtx]' (tensorrt-rtx; builds engines without a GPU)"),
}
# Compute capabilities TensorRT-RTX targets by default ("portable to ... 8.0, 8.6, 8.9, 12.0, and
# later"); Turing (sm75) only when asked for, since including it "can impact performance".
RTX_DEFAULT_TARGETS = ("sm80", "sm86", "sm89", "sm120")
RTX_TARGETS = ("sm75", "sm80", "sm86", "sm89", "sm120", "sm121")  # ComputeCapability members of 1.7.1


def product_named(key: str) -> Product:
    """The :data:`PRODUCTS` entry ``key``; InputError listing the known ones."""
    if key not in PRODUCTS:
        raise InputError(f"unknown engine product {key!r}; expected one of {sorted(PRODUCTS)}")
    return PRODUCTS[key]


def product_of(module) -> Product:
    """The product an imported ``tensorrt``/``tensorrt_rtx`` module is (by its module name)."""
    name = getattr(module, "__name__", "tensorrt").split(".")[0]
    return next((p for p in PRODUCTS.values() if p.module == name), PRODUCTS["tensorrt"])


def check_targets(targets, product: str = "rtx") -> tuple[str, ...]:
    """``"sm75,sm86"`` or a sequence -> ``("sm75", "sm86")`` in the order given; InputError for one not known.

    Only TensorRT-RTX builds for chosen targets; empty means the product's default set.
    """
    items = targets.split(",") if isinstance(targets, str) else list(targets or ())
    chosen = tuple(dict.fromkeys(t.strip().lower().replace("_", "") for t in items if t.strip()))
    if chosen and product != "rtx":
        raise InputError(f"compute capability targets {list(chosen)} are a TensorRT-RTX build option; TensorRT "
                         "builds for the GPU it runs on: leave --compute-capability unset, or use --engines rtx")
    unknown = [t for t in chosen if t not in RTX_TARGETS]
    if unknown:
        raise InputError(f"unknown compute capability target(s) {unknown}; TensorRT-RTX builds for {list(RTX_TARGETS)}")
    return chosen


class TensorRTVersion(NamedTuple):
    """A TensorRT version as numbers; tuple comparison orders releases (``(10, 3) < (10, 13)``)."""

    major: int
    minor: int = 0
    patch: int = 0
    build: int = 0

    @classmethod
    def parse(cls, text) -> TensorRTVersion:
        """``"8.6.1"``, ``"10.13.3.9"``, ``"8.6.1.post1"``, ``"10.3.0+cuda12"`` -> the leading numbers.

        A TensorRTVersion or a tuple of ints is returned as a TensorRTVersion; anything without a
        leading ``MAJOR[.MINOR...]`` is refused (InputError naming the text).
        """
        if isinstance(text, tuple):
            if not 1 <= len(text) <= 4 or not all(isinstance(v, int) and v >= 0 for v in text):
                raise InputError(f"a TensorRT version is 1 to 4 non-negative integers, got {text!r}")
            return cls(*text)
        match = _VERSION.match(str(text))
        if match is None:
            raise InputError(f"cannot read a TensorRT version from {text!r}; expected MAJOR.MINOR[.PATCH[.BUILD]], "
                             "e.g. 10.3.0")
        numbers = [int(part) for part in match.group(1).split(".")][:4]
        return cls(*numbers)

    @property
    def line(self) -> tuple[int, int]:
        """``(major, minor)``: the release line the features below are keyed by."""
        return self.major, self.minor

    def __str__(self) -> str:
        return ".".join(str(part) for part in self)


_VERSION = re.compile(r"^\s*v?(\d+(?:\.\d+){0,3})(?![\d])")


def parse_version(text) -> TensorRTVersion:
    """Shorthand for :meth:`TensorRTVersion.parse`."""
    return TensorRTVersion.parse(text)


@dataclass(frozen=True)
class TensorRTFeatures:
    """What a TensorRT release offers to the engine build and the runner (see :func:`features`)."""

    version: TensorRTVersion
    line: str                    # "8.5/8.6", "10.x" or "11.x": the release line's name in messages
    strongly_typed: bool         # precision comes from the graph's tensor types (10.0+; the only way in 11)
    strongly_typed_flag: bool    # pass NetworkDefinitionCreationFlag.STRONGLY_TYPED (10.x; ignored in 11)
    explicit_batch_flag: bool    # pass NetworkDefinitionCreationFlag.EXPLICIT_BATCH (8.x; ignored in 10, gone in 11)
    precision_flags: bool        # BuilderFlag.FP16 / BuilderFlag.INT8 choose precision (8.x; removed in 11)
    legacy_calibrator: bool      # IInt8EntropyCalibrator2 + config.int8_calibrator (8.x here; removed in 11)
    optimization_level: bool     # config.builder_optimization_level (added in 8.6)
    dla: bool                    # DLA builds are documented for this release (see _dla_documented)
    max_opset: int | None        # highest ONNX opset its parser reads, where recorded (MAX_OPSET)
    product: str = "tensorrt"    # PRODUCTS key: "tensorrt" or "rtx"
    timing_cache: bool = True    # a timing cache speeds up builds (deprecated no-ops on RTX: never used there)
    builds_without_gpu: bool = False  # the build needs no GPU and no CUDA driver (RTX's CPU-only AOT)
    compute_targets: bool = False     # config.set_compute_capability chooses the GPUs a plan runs on (RTX)
    runtime_cache: bool = False       # IRuntimeConfig + IRuntimeCache keep JIT-compiled kernels (RTX)

    @property
    def named_io(self) -> bool:
        """Named I/O tensors, ``set_tensor_address`` and ``execute_async_v3``: every supported release."""
        return True


# Releases edge_tracker knows, by line. 9.x was a TensorRT-LLM-only release line; older than 8.5
# lacks named I/O tensors (set_tensor_address, execute_async_v3), which the runner is written for.
SUPPORTED_LINES = "8.5, 8.6, 10.x and 11.x"


def features(version, product: str = "tensorrt") -> TensorRTFeatures:
    """The feature table row of ``product``'s ``version`` (text or tuple); InputError for a release we do not know.

    One code path serves every supported release: named I/O tensors and ``execute_async_v3`` (8.5+).
    What differs is the engine build: 8.5/8.6 build weakly typed networks with explicit batch and
    take precision from the FP16/INT8 builder flags (plus the legacy entropy calibrator for an FP32
    graph); 10.x builds strongly typed networks from the FP16 and Q/DQ graphs; 11.x has no other
    kind of network (the FP16/INT8 flags and the implicit-INT8 calibrator were removed).
    """
    v = TensorRTVersion.parse(version)
    if product_named(product).key == "rtx":
        return _rtx_features(v)
    if v.major == 8 and v.minor in (5, 6):
        line, typed = "8.5/8.6", False
    elif v.major == 10:
        line, typed = "10.x", True
    elif v.major == 11:
        line, typed = "11.x", True
    else:
        raise InputError(f"TensorRT {v} is not a release edge_tracker knows (it knows {SUPPORTED_LINES}): "
                         + ("it needs TensorRT 8.5 or newer (named I/O tensors, execute_async_v3); update "
                            "JetPack or the tensorrt wheel" if v < (8, 5) else
                            "upgrade edge_tracker, or install a TensorRT it knows"))
    opset = MAX_OPSET.get(v.line) or MAX_OPSET.get((v.major, 0))
    return TensorRTFeatures(version=v, line=line, strongly_typed=typed, strongly_typed_flag=v.major == 10,
                            explicit_batch_flag=v.major == 8, precision_flags=v.major == 8,
                            legacy_calibrator=v.major == 8, optimization_level=v >= (8, 6),
                            dla=_dla_documented(v), max_opset=opset)


def _rtx_features(v: TensorRTVersion) -> TensorRTFeatures:
    """TensorRT-RTX 1.x: TensorRT 11's strongly typed build (its own version numbers), built without a GPU."""
    if v.major != 1:
        raise InputError(f"TensorRT-RTX {v} is not a release edge_tracker knows (it knows TensorRT-RTX 1.x): "
                         "install tensorrt-rtx 1.x (pip install 'edge-tracker[rtx]'), or upgrade edge_tracker")
    return TensorRTFeatures(version=v, line="RTX 1.x", strongly_typed=True, strongly_typed_flag=False,
                            explicit_batch_flag=False, precision_flags=False, legacy_calibrator=False,
                            optimization_level=True, dla=False, max_opset=None, product="rtx",
                            timing_cache=False, builds_without_gpu=True, compute_targets=True, runtime_cache=True)


def _dla_documented(v: TensorRTVersion) -> bool:
    """DLA (Jetson Orin's accelerator) per TensorRT's "Working with DLA" pages.

    8.5/8.6 (JetPack 5) and 10.0-10.7 (JetPack 6 ships 10.3) build for DLA; "TensorRT 10.7 was the
    last release that supported DLA" before 11.4.1, which supports it on Jetson AGX Orin with
    JetPack 7.2.2 or later (11.0-11.3 none; 11.4.0 Windows on ARM only). The build also checks
    ``builder.num_DLA_cores`` on the device, so this table only words the refusal.
    """
    if v.major == 8:
        return True
    if v.major == 10:
        return v.minor <= 7
    return v >= (11, 4, 1)

# The highest ONNX opset each TensorRT line's parser reads. 8.5/8.6: "up to Opset 17"; 10.0: 9..20.
MAX_OPSET = {(8, 5): 17, (8, 6): 17, (10, 0): 20}  # 11.x: not recorded here (our graphs are opset 17)
# We export at the highest opset every supported TensorRT reads.
EXPORT_OPSET = 17
# ONNX IR version that goes with opset 17 (onnx 1.12). Newer IR versions add only types we do not
# use (float8, int4), but older readers refuse them: ONNX Runtime 1.16 (JetPack 5 builds) reads IR <= 9.
EXPORT_IR_VERSION = 8

# Ops marked supported ("Y") in both the TensorRT 8.6 and the TensorRT 10.1 matrices.
TENSORRT_ONNX_OPS = frozenset({
    "Abs", "Acos", "Acosh", "Add", "And", "ArgMax", "ArgMin", "Asin", "Asinh", "Atan", "Atanh",
    "AveragePool", "BatchNormalization", "Cast", "Ceil", "Celu", "Clip", "Concat", "Constant",
    "ConstantOfShape", "Conv", "ConvTranspose", "Cos", "Cosh", "CumSum", "DepthToSpace",
    "DequantizeLinear", "Div", "Dropout", "Einsum", "Elu", "Equal", "Erf", "Exp", "Expand",
    "EyeLike", "Flatten", "Floor", "GRU", "Gather", "GatherElements", "GatherND", "Gemm",
    "GlobalAveragePool", "GlobalLpPool", "GlobalMaxPool", "Greater", "GreaterOrEqual",
    "GridSample", "GroupNormalization", "HardSigmoid", "HardSwish", "Identity", "If",
    "ImageScaler", "InstanceNormalization", "IsInf", "IsNaN", "LRN", "LSTM", "LayerNormalization",
    "LeakyRelu", "Less", "LessOrEqual", "Log", "LogSoftmax", "Loop", "LpNormalization", "LpPool",
    "MatMul", "Max", "MaxPool", "Mean", "MeanVarianceNormalization", "Min", "Mod", "Mul", "Neg",
    "NonMaxSuppression", "NonZero", "Not", "OneHot", "Or", "PRelu", "Pad", "ParametricSoftplus",
    "Pow", "QuantizeLinear", "RNN", "RandomNormal", "RandomNormalLike", "RandomUniform",
    "RandomUniformLike", "Range", "Reciprocal", "ReduceL1", "ReduceL2", "ReduceLogSum",
    "ReduceLogSumExp", "ReduceMax", "ReduceMean", "ReduceMin", "ReduceProd", "ReduceSum",
    "ReduceSumSquare", "Relu", "Reshape", "Resize", "ReverseSequence", "RoiAlign", "Round",
    "ScaledTanh", "Scan", "Scatter", "ScatterElements", "ScatterND", "Selu", "Shape", "Shrink",
    "Sigmoid", "Sign", "Sin", "Sinh", "Size", "Slice", "Softmax", "Softplus", "Softsign",
    "SpaceToDepth", "Split", "Sqrt", "Squeeze", "Sub", "Sum", "Tan", "Tanh", "ThresholdedRelu",
    "Tile", "TopK", "Transpose", "Trilu", "Unsqueeze", "Upsample", "Where", "Xor",
})

# Restrictions from the same matrices on ops our graphs use, as (op, input index that must be a
# constant initializer). Checked statically so a graph never fails at engine build time on the device.
CONSTANT_INPUTS = {
    "Slice": (3,),  # axes must be an initializer (8.4+ matrices); starts/ends may be dynamic
    "Squeeze": (1,),  # axes must be an initializer
    "Unsqueeze": (1,),  # axes must be a constant tensor
    "ReduceMax": (1,),  # TensorRT 10: axes must be an initializer (opset 18 form)
    "ReduceMean": (1,),
    "ReduceSum": (1,),
    "TopK": (1,),  # K must be an initializer
}
