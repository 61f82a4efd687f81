"""FP16 graphs: the FP32 graph converted, float32 inputs and outputs kept, risky ops kept in float32.

Converter: ``onnxconverter_common.float16.convert_float_to_float16`` (``keep_io_types=True``): it
rewrites initializers and value types, inserts the casts at the graph's boundary and around
blocked ops, and is the converter ONNX Runtime's and TensorRT's docs point to. NVIDIA ModelOpt's
AutoCast does the same search with more machinery, but pins onnx and onnxruntime-gpu versions we
cannot install beside the CPU ONNX Runtime; the search it does is small enough to do here.

Which ops stay in float32 is *measured*, not assumed, in two steps:

1. **Ranges.** The FP32 graph runs on the calibration feeds with every intermediate tensor as an
   output; a node whose output reaches ``FP16_SAFE_MAX`` (a sixth of float16's 65504: calibration
   data never shows the extremes) would overflow, and stays in float32 with the nodes that read
   that output. This is measured on FP32
   because ONNX Runtime's CPU cannot show an FP16 overflow: it runs ops that have no float16 kernel
   (reductions among them) in float32 behind inserted casts, which it then removes in pairs.
2. **Error.** The converted graph runs against FP32; if an output is non-finite or its relative
   error is over the tolerance, the candidate op types present in the graph (large reductions and
   correlations, exponentials, normalisations) are kept in float32 one more at a time, in the
   order below, until it passes.

What was kept, and why, goes into the manifest.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edge_tracker.deps import require
from edge_tracker.errors import ExportError

logger = logging.getLogger("edge_tracker.export")

# Kept in float32 in this order until the graph passes: first what overflows (sums over many
# terms, exponentials), then what loses digits (divisions, normalisations).
CANDIDATE_OPS = ("ReduceSum", "ReduceMean", "Softmax", "Exp", "Sigmoid", "Elu", "Pow", "Div", "MatMul",
                 "Gemm", "Conv", "ConvTranspose")


FP16_SAFE_MAX = 65504.0 / 6


@dataclass
class Fp16Result:
    path: Path
    kept_float32: list[str] = field(default_factory=list)  # op types kept in float32
    kept_nodes: dict[str, float] = field(default_factory=dict)  # node -> max |output| on calibration data
    error: float = float("nan")  # worst relative error over outputs and feeds, against FP32
    tries: list[dict] = field(default_factory=list)  # each attempt: kept ops and its error


def convert(model, keep_ops=(), keep_nodes=()):
    """The float16 model of ``model`` (an ``onnx.ModelProto``) with ``keep_ops`` op types and
    ``keep_nodes`` node names in float32."""
    float16 = require("onnxconverter_common").float16
    model = untie_constants(isolate_outputs(model))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "float32 number x will be truncated": expected for tiny weights
        converted = float16.convert_float_to_float16(model, keep_io_types=True, op_block_list=list(keep_ops),
                                                     node_block_list=list(keep_nodes), disable_shape_infer=False)
    return float_outputs(converted)


def float_outputs(model):
    """Every float16 graph output made float32 again.

    The converter leaves an output float16 when the node producing it is kept in float32 (it casts
    the node's result to float16 for its readers and forgets the boundary): the cast there is turned
    to float32, or one is added.
    """
    onnx = require("onnx")
    graph = model.graph
    for output in graph.output:
        tensor_type = output.type.tensor_type
        if tensor_type.elem_type != onnx.TensorProto.FLOAT16:
            continue
        producer = next(node for node in graph.node if output.name in node.output)
        if producer.op_type == "Cast":
            for attribute in producer.attribute:
                if attribute.name == "to":
                    attribute.i = onnx.TensorProto.FLOAT
        else:
            inner = f"{output.name}__fp16"
            producer.output[:] = [inner if name == output.name else name for name in producer.output]
            graph.node.append(onnx.helper.make_node("Cast", [inner], [output.name], to=onnx.TensorProto.FLOAT,
                                                    name=f"{output.name}__to_float32"))
        tensor_type.elem_type = onnx.TensorProto.FLOAT
    return model


def overflowing_nodes(model, feeds: list[dict[str, np.ndarray]], limit: float = FP16_SAFE_MAX) -> dict[str, float]:
    """``{node name: max |output|}`` of the nodes whose float output reaches ``limit`` on ``feeds`` (FP32)."""
    onnx = require("onnx")
    ort = require("onnxruntime")
    inferred = onnx.shape_inference.infer_shapes(model)
    floats = {v.name for v in inferred.graph.value_info if v.type.tensor_type.elem_type == onnx.TensorProto.FLOAT}
    probe = onnx.ModelProto.FromString(inferred.SerializeToString())
    existing = {o.name for o in probe.graph.output}
    producer = {}
    for node in probe.graph.node:
        for name in node.output:
            producer[name] = node.name
            if name in floats and name not in existing:
                probe.graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL  # every tensor as computed
    session = ort.InferenceSession(probe.SerializeToString(), options, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    peaks: dict[str, float] = {}
    for feed in feeds:
        for name, value in zip(names, session.run(names, feed)):
            if name in producer and np.issubdtype(np.asarray(value).dtype, np.floating) and np.size(value):
                peak = float(np.max(np.abs(value)))
                peaks[producer[name]] = max(peaks.get(producer[name], 0.0), peak)
    hot = {node: peak for node, peak in peaks.items() if not peak < limit}
    # The converter casts a float32 node's output back to float16 unless its reader is float32 too:
    # the readers of an overflowing tensor stay in float32 with it.
    hot_tensors = {name for node in probe.graph.node if node.name in hot for name in node.output}
    for node in probe.graph.node:
        if node.name not in hot and any(name in hot_tensors for name in node.input):
            hot[node.name] = peaks.get(node.name, 0.0)
    return hot


def untie_constants(model, max_elements: int = 4096):
    """A copy of ``model`` in which every small float initializer has exactly one reader.

    The converter gives an initializer one type: read by a node kept in float32 and by a node
    converted to float16 (the learning graphs share scalars such as a LeakyReLU slope over dozens
    of nodes of both kinds), it stays float32 and the float16 reader gets an invalid mixed-type
    input. Each further reader of an initializer of at most ``max_elements`` gets its own copy;
    larger ones (weights) are left shared.
    """
    onnx = require("onnx")
    model = onnx.ModelProto.FromString(model.SerializeToString())
    graph = model.graph
    small = {init.name: init for init in graph.initializer
             if init.data_type == onnx.TensorProto.FLOAT and _elements(init) <= max_elements}
    seen: dict[str, int] = {}
    copies = []
    for node in graph.node:
        for index, name in enumerate(node.input):
            if name not in small:
                continue
            count = seen.get(name, 0)
            seen[name] = count + 1
            if count:
                copy = onnx.TensorProto()
                copy.CopyFrom(small[name])
                copy.name = f"{name}__{count}"
                copies.append(copy)
                node.input[index] = copy.name
    graph.initializer.extend(copies)
    return model


def _elements(tensor) -> int:
    count = 1
    for dim in tensor.dims:
        count *= dim
    return count


def isolate_outputs(model):
    """A copy of ``model`` in which no graph output is also read by another node.

    The converter casts each output back to float32 at the boundary *in place*, so a node that also
    reads that tensor inside the graph (AFF-ATOM's backbone: ``cls_layer3`` feeds layer4) would get
    the float32 copy beside float16 weights, an invalid graph. Each such output is produced under a
    new name and handed to the output through an ``Identity``.
    """
    onnx = require("onnx")
    model = onnx.ModelProto.FromString(model.SerializeToString())
    graph = model.graph
    read = {name for node in graph.node for name in node.input}
    for output in graph.output:
        if output.name not in read:
            continue
        inner = f"{output.name}__inner"
        for node in graph.node:
            node.output[:] = [inner if name == output.name else name for name in node.output]
            node.input[:] = [inner if name == output.name else name for name in node.input]
        graph.node.append(onnx.helper.make_node("Identity", [inner], [output.name], name=f"{output.name}__output"))
    return model


def to_fp16(fp32_path: Path, out_path: Path, feeds: list[dict[str, np.ndarray]], tolerance: float,
            tolerances: dict[str, float] | None = None) -> Fp16Result:
    """Write the FP16 graph of ``fp32_path`` to ``out_path``, keeping ops in float32 as measured.

    ``tolerance`` holds for every output but those named in ``tolerances`` (an infinite one: the
    output is reported in ``tries``, never gating; e.g. a solver's loss, whose relative error near
    convergence says nothing). Raises :class:`Fp16Failed`, which carries the tries, when no graph passes.
    """
    onnx = require("onnx")
    model = onnx.load(str(fp32_path))
    present = {node.op_type for node in model.graph.node}
    candidates = [op for op in CANDIDATE_OPS if op in present]
    reference = _run(fp32_path, feeds)
    names = [output.name for output in model.graph.output]
    limits = {name: (tolerances or {}).get(name, tolerance) for name in names}
    result = Fp16Result(out_path, kept_nodes=overflowing_nodes(model, feeds))
    for count in range(len(candidates) + 1):
        keep = candidates[:count]
        onnx.save(convert(model, keep, result.kept_nodes), str(out_path))
        errors = dict(zip(names, _output_errors(_run(out_path, feeds), reference)))
        gating = [errors[name] for name in names if np.isfinite(limits[name])] or [0.0]
        error = max(gating)
        result.tries.append({"kept_float32": list(keep), "kept_nodes": sorted(result.kept_nodes),
                             "relative_error": error, "output_errors": errors})
        logger.debug("%s fp16 keeping %s in float32: relative error %.2e", fp32_path.name, keep, error)
        if all(np.isfinite(errors[name]) and errors[name] <= limits[name] for name in names):
            result.kept_float32, result.error = list(keep), error
            return result
    out_path.unlink(missing_ok=True)
    worst = max(names, key=lambda name: errors[name] if np.isfinite(limits[name]) else -1.0)
    raise Fp16Failed(f"{fp32_path.name}: no FP16 graph within the relative tolerance {tolerance:g} even with "
                     f"{candidates} kept in float32 (last error {error:.3g}, output '{worst}'); the phase cannot "
                     "run in FP16", result.tries)


class Fp16Failed(ExportError):
    """No FP16 graph of a phase passed; ``tries`` holds every attempt's measured errors."""

    def __init__(self, message: str, tries: list[dict]) -> None:
        super().__init__(message)
        self.tries = tries


def _run(path: Path, feeds: list[dict[str, np.ndarray]]) -> list[list[np.ndarray]]:
    ort = require("onnxruntime")
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return [session.run(None, feed) for feed in feeds]


def _output_errors(got: list[list[np.ndarray]], want: list[list[np.ndarray]]) -> list[float]:
    """Per output, the worst feed's max abs error relative to the reference's scale (inf: non-finite)."""
    worst = [0.0] * len(want[0])
    for outputs, references in zip(got, want):
        for index, (out, ref) in enumerate(zip(outputs, references)):
            out, ref = np.asarray(out, np.float64), np.asarray(ref, np.float64)
            error = (float(np.abs(out - ref).max() / max(np.abs(ref).max(), 1e-12))
                     if np.all(np.isfinite(out)) else float("inf"))
            worst[index] = max(worst[index], error)
    return worst


def _worst_error(got: list[list[np.ndarray]], want: list[list[np.ndarray]]) -> float:
    return max(_output_errors(got, want))
