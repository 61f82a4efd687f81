"""A roofline **projection**: how fast a tracker's per-frame graphs could run on a named Jetson.

Counted from the ONNX graphs, per phase: FLOPs (2 per multiply-add of Conv, ConvTranspose, MatMul
and Gemm; 1 per output element of every other op) and bytes moved (weights once, plus every
tensor a node writes, read back once, at the precision's element size; Q/DQ pairs and casts, which
TensorRT fuses away, count for nothing). A frame's bound at a
precision is ``1 / max(FLOPs / peak, bytes / bandwidth)``: no engine runs faster, and real ones
run slower (kernel launches, the CPU's share, imperfect tensor-core use). It is a projection,
printed and stored as one, never a measurement.

Device figures are NVIDIA's published module figures (Jetson Orin Nano / Orin NX / AGX Orin data
sheets and technical brief, Jetson Xavier NX data sheet): memory bandwidth as published; the
GPU's dense tensor throughput derived from the published sparse INT8 TOPS (dense = sparse / 2;
DLA excluded, as our engines run on the GPU), FP16 dense = INT8 dense / 2 (Ampere and Volta tensor
cores), FP32 = the CUDA cores' FMA rate. Each entry says where its numbers come from.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge_tracker.deps import require
from edge_tracker.errors import InputError

BYTES = {"fp32": 4, "fp16": 2, "int8": 1}
MATRIX_OPS = ("Conv", "ConvTranspose", "MatMul", "Gemm")
# TensorRT fuses these into their neighbours (Q/DQ into INT8 kernels, casts into FP16 ones): no pass over memory
FUSED = ("QuantizeLinear", "DequantizeLinear", "Cast", "Identity")


@dataclass(frozen=True)
class Device:
    """Peak throughput (operations per second) per precision and memory bandwidth (bytes per second)."""

    key: str
    name: str
    peak: dict[str, float]
    bandwidth: float
    source: str


DEVICES = {d.key: d for d in (
    Device("orin-nano", "Jetson Orin Nano 8 GB (15 W)",
           {"int8": 20e12, "fp16": 10e12, "fp32": 1.28e12}, 68e9,
           "data sheet: 40 sparse INT8 TOPS (GPU only, no DLA), 68 GB/s; 1024 CUDA cores at 625 MHz"),
    Device("orin-nano-super", "Jetson Orin Nano 8 GB Super (25 W, JetPack 6.1+)",
           {"int8": 33.5e12, "fp16": 16.75e12, "fp32": 2.09e12}, 102e9,
           "Super data sheet: 67 sparse INT8 TOPS (GPU only), 102 GB/s; 1024 CUDA cores at 1020 MHz"),
    Device("orin-nx", "Jetson Orin NX 16 GB (25 W)",
           {"int8": 29.4e12, "fp16": 14.7e12, "fp32": 1.88e12}, 102.4e9,
           "data sheet: 100 sparse INT8 TOPS with 2 DLAs, 102.4 GB/s; GPU share from 1024 CUDA cores at "
           "918 MHz on the Orin Nano's per-clock rate"),
    Device("agx-orin", "Jetson AGX Orin 64 GB (MAXN)",
           {"int8": 85e12, "fp16": 42.5e12, "fp32": 5.32e12}, 204.8e9,
           "technical brief: 275 sparse INT8 TOPS of which the GPU 170, 204.8 GB/s; 2048 CUDA cores at 1.3 GHz"),
    Device("xavier-nx", "Jetson Xavier NX (20 W)",
           {"int8": 12.6e12, "fp16": 6.3e12, "fp32": 0.84e12}, 59.7e9,
           "data sheet: 21 INT8 TOPS with 2 DLAs (GPU share 12.6), 59.7 GB/s; 384 CUDA cores at 1.1 GHz; "
           "Volta has no sparsity"),
)}


@dataclass(frozen=True)
class GraphCost:
    """One graph's FLOPs and bytes at a precision."""

    flops: float
    weight_bytes: float
    activation_bytes: float

    @property
    def bytes(self) -> float:
        return self.weight_bytes + self.activation_bytes


def graph_cost(path: str | Path, precision: str = "fp32") -> GraphCost:
    """FLOPs and bytes of one inference of the ONNX graph at ``path`` (see the module docstring)."""
    onnx = require("onnx")
    if precision not in BYTES:
        raise InputError(f"unknown precision {precision!r}; choose one of {list(BYTES)}")
    model = onnx.shape_inference.infer_shapes(onnx.load(str(path)))
    graph = model.graph
    shapes = {}
    for value in list(graph.input) + list(graph.value_info) + list(graph.output):
        dims = [d.dim_value for d in value.type.tensor_type.shape.dim]
        if dims and all(d > 0 for d in dims):
            shapes[value.name] = dims
    initializers = {init.name: list(init.dims) for init in graph.initializer}
    shapes.update(initializers)
    element = BYTES[precision]
    flops = 0.0
    activations = 0.0
    for node in graph.node:
        out = shapes.get(node.output[0]) if node.output else None
        if out is None or node.op_type in FUSED:
            continue
        elements = float(np.prod(out))
        activations += 2 * elements * element  # written once, read back once
        if node.op_type == "Conv" and len(node.input) > 1 and node.input[1] in shapes:
            # each output element: one multiply-add per weight of its group ([C_out, C_in / g, kh, kw])
            flops += 2 * float(np.prod(shapes[node.input[1]][1:])) * elements
        elif node.op_type == "ConvTranspose" and node.input[0] in shapes and node.input[1] in shapes:
            # each input element is spread over C_out / g * kh * kw outputs ([C_in, C_out / g, kh, kw])
            flops += 2 * float(np.prod(shapes[node.input[0]])) * float(np.prod(shapes[node.input[1]][1:]))
        elif node.op_type in ("MatMul", "Gemm") and node.input[0] in shapes:
            inner = shapes[node.input[0]][-1] if not _transposed_a(node) else shapes[node.input[0]][-2]
            flops += 2 * inner * elements
        else:
            flops += elements
    weights = sum(float(np.prod(dims)) for dims in initializers.values()) * element
    return GraphCost(flops, weights, activations)


def _transposed_a(node) -> bool:
    return any(a.name == "transA" and a.i for a in node.attribute)


def fps_bound(cost: GraphCost, device: Device, precision: str) -> float:
    """The roofline bound on inferences per second of ``cost`` on ``device`` at ``precision``."""
    seconds = max(cost.flops / device.peak[precision], cost.bytes / device.bandwidth)
    return 1.0 / seconds if seconds > 0 else float("inf")


def project(phases: dict[str, dict[str, Path]], every_frame: list[str], device: Device) -> list[dict]:
    """Per precision: the per-frame phases' summed cost and the FPS bound on ``device``.

    ``phases``: ``{phase: {precision: graph path}}`` (an INT8 build's FP16 phases count at FP16).
    """
    rows = []
    for precision in ("fp32", "fp16", "int8"):
        if not all(precision in phases[p] for p in every_frame):
            continue
        flops = total_bytes = seconds = 0.0
        for name in every_frame:
            path = phases[name][precision]
            used = _graph_precision(path, precision)
            cost = graph_cost(path, used)
            flops, total_bytes = flops + cost.flops, total_bytes + cost.bytes
            seconds += max(cost.flops / device.peak[used], cost.bytes / device.bandwidth)
        rows.append({"precision": precision, "gflops_per_frame": flops / 1e9, "mbytes_per_frame": total_bytes / 1e6,
                     "fps_bound": 1.0 / seconds if seconds > 0 else float("inf")})
    return rows


def _graph_precision(path: Path, precision: str) -> str:
    """An ``int8`` variant that is an FP16 graph (a phase not worth quantizing) runs at FP16."""
    name = Path(path).name
    if precision == "int8" and ".int8." not in name:
        return "fp16" if ".fp16." in name else "fp32"
    return precision
