"""Export one tracker phase to an ONNX file that TensorRT's parser and ONNX Runtime both read.

Route (each step for a reason):

0. Long unrolled graphs (the classifier's learning) skip the exporter's pattern rewriter, whose
   matching grows with the square of the graph; their constants are folded all the same
   (``fold_without_rewriting``).
1. Phases whose forward takes gradients (IoU refinement: ``torch.func.grad`` steps) are first traced
   with ``make_fx`` into a plain aten graph; ``torch.export`` cannot take ``torch.func.grad``
   directly, but the traced graph exports to ordinary ops (MatMul, Where, ...).
2. The dynamo ONNX exporter writes opset 18: its own down-conversion to 17 runs before constants
   are folded and fails on computed ``axes`` inputs.
3. Polygraphy folds constants (the exporter's optimiser leaves large or initializer-fed subgraphs).
4. ``onnx.version_converter`` converts to opset 17, the newest that TensorRT 8.5/8.6 (JetPack 5)
   read. It leaves ``noop_with_empty_axes`` on Reduce ops that only gained it in opset 18; with
   its default value 0 the attribute means nothing, so it is dropped (a non-zero value is an error).
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from pathlib import Path

import onnx

from edge_tracker.deps import require
from edge_tracker.errors import ExportError
from export.graph_check import GraphReport, check_graph
from export.phases import Phase
from export.tensorrt_support import EXPORT_IR_VERSION, EXPORT_OPSET

logger = logging.getLogger("edge_tracker.export")

_EXPORTER_OPSET = 18  # what the dynamo exporter writes natively (see module docstring)
_REDUCE_OPS_WITHOUT_NOOP_BEFORE_18 = {
    "ReduceMax", "ReduceMin", "ReduceMean", "ReduceProd", "ReduceL1", "ReduceL2",
    "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare",
}


def export_phase(phase: Phase, path: str | Path, opset: int = EXPORT_OPSET,
                 metadata: dict[str, str] | None = None) -> tuple[onnx.ModelProto, GraphReport]:
    """Export ``phase`` to ``path``; return the saved model and its graph-check report.

    Raises ExportError when tracing or conversion fails, and GraphCheckError when the written graph
    fails a check (the file is still written, so it can be inspected).
    """
    torch = require("torch")
    require("onnxscript")
    path = Path(path)
    args = phase.example_inputs(seed=0)
    module = phase.module.eval()
    try:
        if phase.functional_grad:
            from torch.fx.experimental.proxy_tensor import make_fx

            module = make_fx(module)(*args)
        with _quiet():
            program = torch.onnx.export(
                module, args,
                input_names=[spec.name for spec in phase.inputs],
                output_names=[spec.name for spec in phase.outputs],
                opset_version=_EXPORTER_OPSET, dynamo=True, verbose=False,
                optimize=not phase.light_optimization,
            )
        model = program.model_proto
        if phase.light_optimization:
            model = fold_without_rewriting(model)
    except Exception as err:  # the exporter raises many types; all mean the same to a user
        raise ExportError(f"exporting phase '{phase.name}' to ONNX failed: {err}") from err

    model = fold_constants(model)
    model = convert_opset(model, opset)
    model.ir_version = min(model.ir_version, EXPORT_IR_VERSION)
    _name_io(model, phase)
    model.doc_string = phase.description
    for key, value in sorted((metadata or {}).items()):
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    report = check_graph(model)
    report.raise_if_failed(phase.name)
    return model, report


def fold_without_rewriting(model: onnx.ModelProto) -> onnx.ModelProto:
    """The exporter's optimisation without its pattern rewriter (``Phase.light_optimization``):
    inline, fold constants (which also settles the exporter's CastLike and scalar-shape nodes),
    drop unused nodes, lift constants, share duplicates."""
    from onnxscript import ir
    from onnxscript.optimizer import _constant_folding as folding
    import onnx_ir.passes.common as common

    graph = ir.serde.deserialize_model(model)
    ir.passes.Sequential(
        common.InlinePass(),
        ir.passes.PassManager([folding.FoldConstantsPass(
            shape_inference=True, input_size_limit=folding.DEFAULT_CONSTANT_FOLD_INPUT_SIZE_LIMIT,
            output_size_limit=folding.DEFAULT_CONSTANT_FOLD_OUTPUT_SIZE_LIMIT), common.RemoveUnusedNodesPass()],
            steps=2, early_stop=True),
        common.LiftConstantsToInitializersPass(lift_all_constants=True, size_limit=0),
        common.DeduplicateInitializersPass(),
        common.CommonSubexpressionEliminationPass(),
    )(graph)
    return ir.serde.serialize_model(graph)


def fold_constants(model: onnx.ModelProto) -> onnx.ModelProto:
    """Fold every constant subgraph (Polygraphy, backed by ONNX Runtime) until nothing changes."""
    fold = require("polygraphy.backend.onnx").fold_constants
    from polygraphy.logger import G_LOGGER

    with G_LOGGER.verbosity(G_LOGGER.ERROR), _quiet():
        return fold(model, num_passes=None, error_ok=False)


def convert_opset(model: onnx.ModelProto, opset: int) -> onnx.ModelProto:
    """Convert the default-domain opset of ``model`` to ``opset`` (see module docstring, step 4)."""
    from onnx import version_converter

    current = next(e.version for e in model.opset_import if e.domain in ("", "ai.onnx"))
    if current == opset:
        return model
    try:
        converted = version_converter.convert_version(model, opset)
    except Exception as err:
        raise ExportError(f"converting the graph from opset {current} to {opset} failed: {err}") from err
    if opset < 18:
        for node in converted.graph.node:
            if node.op_type not in _REDUCE_OPS_WITHOUT_NOOP_BEFORE_18:
                continue
            for attr in list(node.attribute):
                if attr.name == "noop_with_empty_axes":
                    if attr.i != 0:
                        raise ExportError(f"{node.op_type} '{node.name}' needs noop_with_empty_axes="
                                          f"{attr.i}, which opset {opset} cannot express")
                    node.attribute.remove(attr)
    return converted


def _name_io(model: onnx.ModelProto, phase: Phase) -> None:
    """Check that the graph's inputs and outputs are exactly the phase's named tensors."""
    got_in = [value.name for value in model.graph.input]
    got_out = [value.name for value in model.graph.output]
    want_in = [spec.name for spec in phase.inputs]
    want_out = [spec.name for spec in phase.outputs]
    if got_in != want_in or got_out != want_out:
        raise ExportError(
            f"phase '{phase.name}': exported graph has inputs {got_in} and outputs {got_out}, "
            f"expected {want_in} and {want_out} (an input the graph does not use is dropped by "
            f"the exporter: check the phase's forward)")


@contextlib.contextmanager
def _quiet():
    """Silence the exporter's progress prints, warnings and logs; errors still propagate."""
    loggers = [logging.getLogger(name) for name in ("torch.onnx", "onnxscript", "onnx_ir")]
    levels = [lg.level for lg in loggers]
    try:
        for lg in loggers:
            lg.setLevel(logging.ERROR)
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, lvl in zip(loggers, levels):
            lg.setLevel(lvl)
