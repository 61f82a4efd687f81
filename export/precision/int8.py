"""INT8 graphs: explicit QuantizeLinear/DequantizeLinear pairs, the form TensorRT 8.5+ builds from.

Quantizer: ONNX Runtime's ``quantize_static`` in QDQ format with symmetric INT8 activations
(per-tensor) and symmetric INT8 weights (per output channel), scales from MinMax over the
calibration set; the quantizer's INT32 biases are then folded into float biases
(``export.precision.qdq_bias``: TensorRT's parser refuses an INT32 DequantizeLinear). Only ``Conv``, ``MatMul`` and ``Gemm`` inputs are quantized: that is where INT8
pays (TensorRT fuses Q/DQ into INT8 convolutions), and it leaves the attention arithmetic
(sigmoids, global pooling, element-wise products of MS-CAM and the channel/spatial attentions) in
float, where quantizing it only costs accuracy.

**Sensitivity.** For every quantizable node, the phase is quantized with that node alone and its
outputs compared with FP32 (max abs error relative to the output's scale): the per-layer report.
Then every node is quantized except those kept in higher precision, chosen greedily: while the
whole graph's error is over the tolerance, the most sensitive node still quantized is excluded.
Both lists go to the manifest.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edge_tracker.deps import require
from edge_tracker.errors import ExportError
from export.precision.fp16 import _run, _worst_error

logger = logging.getLogger("edge_tracker.export")

QUANTIZED_OPS = ("Conv", "MatMul", "Gemm")
SENSITIVITY_FEEDS = 8  # calibration feeds per single-node quantization (the report, not the scales)


@dataclass
class Int8Result:
    path: Path
    quantized: list[str] = field(default_factory=list)  # node names with Q/DQ on their inputs
    kept_float: list[str] = field(default_factory=list)  # quantizable nodes kept in higher precision
    sensitivity: dict[str, float] = field(default_factory=dict)  # node -> error when quantized alone
    error: float = float("nan")
    tried: dict[int, float] = field(default_factory=dict)  # nodes kept in float -> whole-graph error


def quantizable_nodes(fp32_path: Path) -> list[str]:
    """Names of the nodes the quantizer would quantize (``QUANTIZED_OPS`` with an initializer weight)."""
    onnx = require("onnx")
    model = onnx.load(str(fp32_path))
    initializers = {init.name for init in model.graph.initializer}
    return [node.name for node in model.graph.node
            if node.op_type in QUANTIZED_OPS and len(node.input) > 1 and node.input[1] in initializers]


def quantize(fp32_path: Path, out_path: Path, calibration: list[dict[str, np.ndarray]],
             nodes: list[str] | None = None, exclude: list[str] | None = None) -> None:
    """Q/DQ graph of ``fp32_path`` with ``nodes`` (default: all quantizable) minus ``exclude``."""
    quant = require("onnxruntime.quantization")

    class Reader(quant.CalibrationDataReader):
        def __init__(self):
            self._feeds = iter(calibration)

        def get_next(self):
            return next(self._feeds, None)

    logging.getLogger().setLevel(max(logging.getLogger().level, logging.ERROR))  # the quantizer's advice
    quant.quantize_static(
        str(fp32_path), str(out_path), Reader(), quant_format=quant.QuantFormat.QDQ, per_channel=True,
        activation_type=quant.QuantType.QInt8, weight_type=quant.QuantType.QInt8,
        op_types_to_quantize=list(QUANTIZED_OPS), nodes_to_quantize=nodes or None,
        nodes_to_exclude=exclude or None, calibrate_method=quant.CalibrationMethod.MinMax,
        extra_options={"ActivationSymmetric": True, "WeightSymmetric": True})
    _fold_bias(out_path)


def _fold_bias(path: Path) -> None:
    """The quantizer's INT32 biases as float initializers, exactly as ORT dequantized them (``qdq_bias``)."""
    onnx = require("onnx")
    from export.precision.qdq_bias import fold_int32_bias

    model = onnx.load(str(path))
    if fold_int32_bias(model):
        onnx.save(model, str(path))


def to_int8(fp32_path: Path, out_path: Path, calibration: list[dict[str, np.ndarray]],
            check: list[dict[str, np.ndarray]], tolerance: float, sensitivity: bool = True) -> Int8Result:
    """Write the INT8 graph of ``fp32_path``: calibrated on ``calibration``, measured on ``check``."""
    nodes = quantizable_nodes(fp32_path)
    if not nodes:
        raise ExportError(f"{fp32_path.name} has no Conv/MatMul/Gemm with constant weights: nothing to quantize")
    reference = _run(fp32_path, check)
    result = Int8Result(out_path)
    if sensitivity:
        with tempfile.TemporaryDirectory() as tmp:
            single = Path(tmp) / "single.onnx"
            for node in nodes:
                quantize(fp32_path, single, calibration[:SENSITIVITY_FEEDS], nodes=[node])
                result.sensitivity[node] = _worst_error(_run(single, check), reference)
    order = sorted(nodes, key=lambda n: -result.sensitivity.get(n, 0.0))
    errors: dict[int, float] = {}

    def error_keeping(count: int) -> float:
        """Whole-graph error with the ``count`` most sensitive nodes kept in float (written to out_path)."""
        quantize(fp32_path, out_path, calibration, exclude=order[:count])
        errors[count] = _worst_error(_run(out_path, check), reference)
        logger.debug("%s int8, %d node(s) kept in float: relative error %.2e", fp32_path.name, count, errors[count])
        return errors[count]

    # The error falls as more of the most sensitive nodes stay in float: find the fewest that pass by
    # doubling, then bisecting (about 2 log2(n) quantizations instead of n).
    low, high = -1, 0
    while error_keeping(high) > tolerance:
        if high >= len(nodes) or not result.sensitivity:
            fix = ("; without the sensitivity report (--no-sensitivity) no layer can be chosen to stay in float: "
                   "build again without --no-sensitivity" if not result.sensitivity else
                   "; build without int8 for this tracker (--precision fp32,fp16)")
            raise ExportError(f"{fp32_path.name}: INT8 error {errors[high]:.3g} is over the tolerance {tolerance:g} "
                              f"even with {high} of {len(nodes)} layers kept in float{fix}")
        low, high = high, min(max(1, 2 * high), len(nodes))
    while high - low > 1:
        middle = (low + high) // 2
        if error_keeping(middle) <= tolerance:
            high = middle
        else:
            low = middle
    if errors.get(high) is None or list(errors)[-1] != high:
        error_keeping(high)  # leave the chosen graph on disk
    result.kept_float = order[:high]
    result.quantized = [n for n in nodes if n not in result.kept_float]
    result.error = errors[high]
    result.tried = dict(sorted(errors.items()))
    return result
