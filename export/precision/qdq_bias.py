"""INT32 bias DequantizeLinear nodes folded into float biases: the Q/DQ form TensorRT's parser reads.

ONNX Runtime's ``quantize_static`` stores each quantized Conv/Gemm bias as an INT32 initializer
behind a DequantizeLinear (scale = input scale x weight scale, zero point 0). TensorRT's ONNX
parser refuses a DequantizeLinear of INT32 on every release ("input has type Int32 but must have
type FP8, FP4, Int4, Int8, or UInt8"; onnx-tensorrt #850); TensorRT quantizes biases itself when
it fuses the Q/DQ pairs of the weights and activations into an INT8 convolution.

:func:`fold_int32_bias` replaces each such node by a float32 initializer holding exactly what the
node computes, ``(q - zero_point) * scale`` (per axis where the scale is a vector), so ONNX
Runtime's output is unchanged (the node did this arithmetic at run time) and the measured error
of the INT8 graph stays what it was. ``export.graph_check`` refuses any INT32 DequantizeLinear.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import numpy_helper


def fold_int32_bias(model: onnx.ModelProto) -> int:
    """Fold every DequantizeLinear of a constant INT32 tensor into a float32 initializer, in place; returns the count."""
    graph = model.graph
    initializers = {init.name: init for init in graph.initializer}
    folded, keep = 0, []
    for node in graph.node:
        source = initializers.get(node.input[0]) if node.op_type == "DequantizeLinear" else None
        if source is None or source.data_type != onnx.TensorProto.INT32:
            keep.append(node)
            continue
        graph.initializer.append(numpy_helper.from_array(_dequantized(node, initializers), node.output[0]))
        folded += 1
    if folded:
        del graph.node[:]
        graph.node.extend(keep)
        _drop_unused_initializers(graph)
    return folded


def _dequantized(node: onnx.NodeProto, initializers: dict) -> np.ndarray:
    """What the node computes, in float32 (the DequantizeLinear definition, axis default 1)."""
    q = numpy_helper.to_array(initializers[node.input[0]]).astype(np.float64)
    scale = numpy_helper.to_array(initializers[node.input[1]]).astype(np.float32)
    zero = (numpy_helper.to_array(initializers[node.input[2]]).astype(np.float64)
            if len(node.input) > 2 and node.input[2] else np.zeros_like(scale, dtype=np.float64))
    if scale.ndim == 1 and q.ndim > 0:
        axis = next((a.i for a in node.attribute if a.name == "axis"), 1) % q.ndim
        shape = [1] * q.ndim
        shape[axis] = -1
        scale, zero = scale.reshape(shape), zero.reshape(shape)
    # ONNX Runtime computes (q - zp) in integers, then one float32 multiply by the scale
    return ((q - zero).astype(np.float32) * scale).astype(np.float32)


def _drop_unused_initializers(graph: onnx.GraphProto) -> None:
    used = {name for node in graph.node for name in node.input} | {out.name for out in graph.output}
    unused = [init for init in graph.initializer if init.name not in used]
    for init in unused:
        graph.initializer.remove(init)
