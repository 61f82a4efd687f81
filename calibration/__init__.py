"""Calibration sets for INT8 (and the FP16 checks): feeds sampled from real frames the way the tracker sees them.

``python -m calibration build SOURCE ... --tracker T --out DIR`` runs the FP32 tracker over the
sources and keeps every phase's feeds (``builder.py``), stored as ``.npz`` shards with a manifest
(``store.py``). The crop geometry and preprocessing are the tracker's own (``edge_tracker.preprocess``),
so calibration and tracking cut crops identically. ``polygraphy_loader.py`` feeds a set to Polygraphy.
"""
