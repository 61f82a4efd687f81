"""Re-record the demo checkpoints' golden tracks (``demo_boxes_seed7.json``, ``aff_atom_graph_learner.json``).

The goldens pin the runtime's behaviour on the shipped demo checkpoints, so that a refactor that
changes a box is caught. They belong to a checkpoint: when a new demo checkpoint ships, first run the
golden tests on the *old* checkpoint with the new code (they must pass: the code changed nothing),
then swap the checkpoint and record again with that same code:

    .venv/bin/python tests/edge_tracker/data/record_goldens.py

Each file records the commit, the checkpoints' sha256 and the libraries (OpenCV, numpy, ONNX Runtime)
it was made with; the tests that read them say so in one line when the running libraries differ and
the values disagree (``tests/goldens.py``). Record in the locked environment (``make install``), and
when the lock moves to a release that changes the tracks, re-record in the commit that moves it.
``--out DIR`` writes the files elsewhere, to compare them with the committed ones. The settings are
those the tests replay (``test_session.py``, ``test_atom_device.py``).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parents[2]))

from edge_tracker.datasets.synthetic import SyntheticConfig, generate_sequence  # noqa: E402
from edge_tracker.demo import demo_checkpoint, demo_export  # noqa: E402
from edge_tracker.manifest import sha256_file  # noqa: E402
from edge_tracker.session import Session  # noqa: E402
from edge_tracker.trackers import build_tracker, tracker_params  # noqa: E402
from tests.goldens import running_libraries  # noqa: E402

# what test_session.py's golden test applies: AFF-ATOM's defaults as they were when the boxes were first
# recorded (filter updates whole, no target-loss handling)
SESSION_TEXTS = {"scs-siam": {}, "aff-atom": {"update_spread_frames": "0", "lost_after_frames": "0"}}


def _commit() -> str:
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=HERE, capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=HERE,
                           capture_output=True, text=True).stdout.strip()
    return head + (" with uncommitted changes" if dirty else "")


def _sha(tracker: str) -> str:
    return sha256_file(demo_checkpoint(tracker))


def session_boxes() -> dict:
    seed, frames = 7, 30
    sequence = generate_sequence(seed, SyntheticConfig(num_frames=frames))
    boxes = {}
    for tracker, texts in SESSION_TEXTS.items():
        with Session(None, tracker=tracker, param_texts=texts) as session:
            tracked = session.new_tracker()
            tracked.initialize(sequence.frames[0], sequence.boxes[0])
            boxes[tracker] = [[round(float(v), 4) for v in tracked.track(frame).box] for frame in sequence.frames[1:]]
    return {"seed": seed, "frames": frames, "boxes": boxes, "libraries": running_libraries(),
            "recorded_with": f"commit {_commit()}, checkpoints " + ", ".join(f"{t} sha256 {_sha(t)}" for t in boxes)
            + f"; record_goldens.py: Session(None, tracker=T, param_texts={SESSION_TEXTS}) (the checkpoint's "
              f"tracking_params under them); generate_sequence({seed}, SyntheticConfig(num_frames={frames})); "
              f"boxes of frames 1..{frames - 1} rounded to 1e-4 px"}


def graph_learner_tracks() -> dict:
    frames = 32
    clips = {}
    with Session(demo_export("aff-atom"), tracker="aff-atom") as session:
        for seed in ("1", "7"):
            sequence = generate_sequence(int(seed), SyntheticConfig(num_frames=frames))
            clips[seed] = {}
            for spread in ("10", "0"):
                params = tracker_params(session.name, {"learner": "graph", "update_spread_frames": int(spread)})
                tracker = build_tracker(session.name, session.runners, params)
                tracker.initialize(sequence.frames[0], sequence.boxes[0])
                results = [tracker.track(frame) for frame in sequence.frames[1:]]
                clips[seed][spread] = {"boxes": np.array([r.box for r in results]).tolist(),
                                       "scores": [float(r.score) for r in results],
                                       "states": [r.state for r in results],
                                       "updates_done": tracker.learner.updates_done}
    return {"frames": frames, "commit": _commit(), "checkpoint_sha256": _sha("aff-atom"),
            "libraries": running_libraries(), "clips": clips}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Re-record the demo checkpoints' golden tracks.")
    parser.add_argument("--out", type=Path, default=HERE, help="folder to write them to (default: %(default)s)")
    out = parser.parse_args().out
    out.mkdir(parents=True, exist_ok=True)
    (out / "demo_boxes_seed7.json").write_text(json.dumps(session_boxes(), indent=1) + "\n")
    (out / "aff_atom_graph_learner.json").write_text(json.dumps(graph_learner_tracks(), indent=1) + "\n")
    print("wrote", out / "demo_boxes_seed7.json", "and", out / "aff_atom_graph_learner.json")
