"""Tracking data: readers for the standard dataset layouts and a procedural sequence generator.

numpy + OpenCV only, so evaluation and the demo run without torch.
"""
