"""Precision variants of an exported phase: FP16 graphs (``fp16.py``) and INT8 Q/DQ graphs (``int8.py``).

Precision is a property of the graph (DESIGN principle 3): TensorRT 10 and 11 build strongly typed
networks from these graphs as they are, and ONNX Runtime runs them on the CPU, so their accuracy
and speed are measured here. ``export.build`` makes them for every phase of an export.
"""
