"""Static checks of an exported ONNX graph: what TensorRT needs before an engine is ever built.

Checks, each a named finding in the report:

- ``checker``: ``onnx.checker`` with full shape inference passes.
- ``opset``: the default-domain opset is one every supported TensorRT parser reads, and the IR
  version one that older ONNX Runtime builds read.
- ``ops``: every op is in ``tensorrt_support.TENSORRT_ONNX_OPS``; no custom domains (no plugins).
- ``constant_inputs``: inputs TensorRT requires as initializers (Slice axes, TopK K, ...) are.
- ``folded``: no node computes only from constants (constant folding left nothing to fold); a
  ``DequantizeLinear`` of INT8 weights is the exception Q/DQ graphs are made of.
- ``qdq_types``: no DequantizeLinear of an INT32 tensor (ONNX Runtime's quantized biases): TensorRT's
  parser takes only 8-bit and smaller integers and FP8/FP4 there, on every release.
- ``static_shapes``: every graph input and output, and every inferred intermediate, has a fully
  static shape (our engines are built without optimisation profiles).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import onnx

from edge_tracker.errors import GraphCheckError
from export.tensorrt_support import (CONSTANT_INPUTS, EXPORT_IR_VERSION, EXPORT_OPSET, MAX_OPSET,
                                     TENSORRT_ONNX_OPS)


@dataclass
class GraphReport:
    """Findings of ``check_graph``: ``problems`` is empty when the graph passes."""

    opset: int
    op_types: list[str]
    num_nodes: int
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def raise_if_failed(self, name: str) -> None:
        if self.problems:
            raise GraphCheckError(f"graph '{name}' fails its checks:\n  - " + "\n  - ".join(self.problems))


def check_graph(model: onnx.ModelProto, require_static: bool = True) -> GraphReport:
    """Run every check on ``model``; never raises for a failing graph (see ``GraphReport``)."""
    problems: list[str] = []
    try:
        onnx.checker.check_model(model, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as err:
        problems.append(f"checker: onnx.checker rejects the model: {err}")

    opset = _default_opset(model)
    lowest_max = min(MAX_OPSET.values())
    if opset is None or opset > lowest_max or opset < EXPORT_OPSET:
        problems.append(
            f"opset: default-domain opset is {opset}; TensorRT 8.5/8.6 read up to {lowest_max} and "
            f"we export at {EXPORT_OPSET}")
    if model.ir_version > EXPORT_IR_VERSION:
        problems.append(f"opset: IR version {model.ir_version} is newer than {EXPORT_IR_VERSION}, which older "
                        f"ONNX Runtime builds (JetPack 5) refuse")

    graph = model.graph
    op_types = sorted({node.op_type for node in graph.node})
    for node in graph.node:
        if node.domain not in ("", "ai.onnx"):
            problems.append(f"ops: node '{node.name}' uses custom domain '{node.domain}' ({node.op_type}); "
                            "TensorRT would need a plugin")
    unsupported = sorted({n.op_type for n in graph.node if n.domain in ("", "ai.onnx")} - TENSORRT_ONNX_OPS)
    if unsupported:
        problems.append(f"ops: not supported by the TensorRT 8.6 and 10.x ONNX parsers: {unsupported}")

    constants = _constant_names(graph)
    for node in graph.node:
        for index in CONSTANT_INPUTS.get(node.op_type, ()):
            if index < len(node.input) and node.input[index] and node.input[index] not in constants:
                problems.append(f"constant_inputs: {node.op_type} '{node.name}' input {index} "
                                f"('{node.input[index]}') must be a constant for TensorRT")

    foldable = _foldable_nodes(graph)
    if foldable:
        problems.append(f"folded: {len(foldable)} node(s) compute only from constants and should have "
                        f"been folded: {foldable[:5]}")

    problems.extend(_int32_dequantize_problems(graph))
    if require_static:
        problems.extend(_static_shape_problems(model))
    return GraphReport(opset=opset or -1, op_types=op_types, num_nodes=len(graph.node), problems=problems)


def _default_opset(model: onnx.ModelProto) -> int | None:
    for entry in model.opset_import:
        if entry.domain in ("", "ai.onnx"):
            return entry.version
    return None


def _constant_names(graph: onnx.GraphProto) -> set[str]:
    names = {init.name for init in graph.initializer}
    names.update(out for node in graph.node if node.op_type == "Constant" for out in node.output)
    return names


def _foldable_nodes(graph: onnx.GraphProto) -> list[str]:
    """Nodes (other than Constant) whose every input is a constant or the output of such a node."""
    constant = {init.name for init in graph.initializer} - {inp.name for inp in graph.input}
    foldable = []
    for node in graph.node:  # ONNX nodes are topologically sorted
        if node.op_type == "Constant":
            constant.update(node.output)
        elif node.op_type == "DequantizeLinear" and all(not name or name in constant for name in node.input):
            # Q/DQ graphs keep INT8 weights behind a DequantizeLinear on purpose: TensorRT fuses the
            # pair into an INT8 convolution; folding it would turn the weights back into float.
            constant.update(node.output)
        elif all(not name or name in constant for name in node.input):
            # Shape-only sources like ConstantOfShape of a constant are still foldable.
            constant.update(node.output)
            foldable.append(f"{node.op_type}:{node.name}")
    return foldable


def _int32_dequantize_problems(graph: onnx.GraphProto) -> list[str]:
    types = {init.name: init.data_type for init in graph.initializer}
    types.update({out: a.t.data_type for node in graph.node if node.op_type == "Constant"
                  for a in node.attribute if a.name == "value" for out in node.output})
    types.update({v.name: v.type.tensor_type.elem_type for v in [*graph.input, *graph.value_info]})
    bad = [node.name or node.output[0] for node in graph.node
           if node.op_type == "DequantizeLinear" and types.get(node.input[0]) == onnx.TensorProto.INT32]
    if not bad:
        return []
    return [f"qdq_types: {len(bad)} DequantizeLinear node(s) of INT32 tensors (quantized biases), which TensorRT's "
            f"parser refuses: {bad[:5]}; fold them into float biases (export.precision.qdq_bias.fold_int32_bias)"]


def _static_shape_problems(model: onnx.ModelProto) -> list[str]:
    inferred = onnx.shape_inference.infer_shapes(model, strict_mode=False, data_prop=True)
    problems = []
    values = list(inferred.graph.input) + list(inferred.graph.output) + list(inferred.graph.value_info)
    for value in values:
        tensor_type = value.type.tensor_type
        if not tensor_type.HasField("shape"):
            problems.append(f"static_shapes: '{value.name}' has no inferred shape")
            continue
        dims = [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in tensor_type.shape.dim]
        if any(not isinstance(d, int) or d <= 0 for d in dims):
            problems.append(f"static_shapes: '{value.name}' has a dynamic shape {dims}")
    return problems
