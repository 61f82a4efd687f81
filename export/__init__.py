"""The build pipeline: PyTorch networks -> per-phase ONNX -> (later) precision variants and TensorRT engines.

Run it as ``python -m export``. Needs the ``export`` extra (torch, onnxscript, polygraphy).
"""
