"""Trackers: numpy orchestration of the exported phase graphs (``initialize(frame, box)``, ``track(frame)``)."""
