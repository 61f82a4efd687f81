"""Calibration sets for INT8: crops sampled from video the way the tracker sees them.

Template crops at initialisation and search crops around the target with realistic jitter, cached
per (tracker, phase, input shape). Built in the INT8 issue; the crop geometry it needs lives in
``edge_tracker`` so that calibration and tracking cut crops identically.
"""
