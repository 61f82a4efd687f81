"""What TensorRT's ONNX parser accepts, by TensorRT version: the one place that knows.

Source: the operator support matrix of onnx-tensorrt (``docs/operators.md``) on its release/8.6-GA
branch (TensorRT 8.6, JetPack 5) and its 10.1-GA branch (TensorRT 10.x, JetPack 6). We require the
ops that *both* mark supported, so one exported graph parses on JetPack 5 and 6 alike. Per-op
restrictions we rely on are listed in ``OP_RESTRICTIONS`` and checked by ``export.graph_check``.
"""

from __future__ import annotations

# The highest ONNX opset each TensorRT line's parser reads. 8.5/8.6: "up to Opset 17"; 10.0: 9..20.
MAX_OPSET = {(8, 5): 17, (8, 6): 17, (10, 0): 20}
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
