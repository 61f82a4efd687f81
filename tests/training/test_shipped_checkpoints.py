"""Regression guard: every shipped demo checkpoint still tracks (issue 17), so a broken one cannot ship.

On short generated sequences (``edge_tracker.datasets.synthetic``, seeds the training runs never use:
they draw ``synthetic:N`` from seed 0 upwards and N stays below 1000), each checkpoint in
``edge_tracker/checkpoints`` must

- track with its recommended parameters (PyTorch backend) above a stated mean IoU, and
- for AFF-ATOM, whose online classifier tracks generated clips even on random features, also rank
  IoU-Net proposals: the predicted IoU of 16 proposals per pair (the training proposals) must
  correlate with their true IoU.

Thresholds, measured when they were set (shipped demos of 2026-11 vs seeded random weights of the
same architectures, on a busy 2-core CPU):

| check | shipped | random weights | threshold |
|---|---|---|---|
| SCS-Siam mean IoU, seeds 1001-1002, 10 frames | 0.91, 0.81 | 0.33, 0.00 | 0.60 |
| AFF-ATOM mean IoU, seed 1000, 12 frames | 0.71 (25 frames) | 0.68 (tracks too) | 0.50 |
| AFF-ATOM IoU-Net Pearson r, 16 pairs x 16 proposals, seed 1003 | 0.78 (seeds 1004, 1005: 0.58, 0.67) | -0.16 (0.13, 0.16) | 0.45 |

When a new checkpoint ships, rerun these and keep the thresholds below what it scores.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from edge_tracker.datasets.synthetic import generate_sequence
from edge_tracker.demo import demo_checkpoint, demo_trackers
from edge_tracker.geometry import box_iou
from edge_tracker.session import Session
from export.checkpoint import load_state_strict, read_checkpoint
from export.models import build_model
from training.crops import AtomCropParams, atom_pair

TRACKING = {"scs-siam": ((1001, 1002), 10, 0.60), "aff-atom": ((1000,), 12, 0.50)}  # seeds, frames, min IoU
IOU_NET_R = 0.45  # min Pearson r of the IoU-Net's predictions with the true IoUs


@pytest.fixture()
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def mean_tracking_iou(model, tracker: str, seeds, frames: int) -> list[float]:
    """Mean IoU per generated sequence of ``tracker`` (``model`` None: the shipped checkpoint)."""
    scores = []
    with Session(model, tracker=tracker, backend="torch") as session:
        for seed in seeds:
            sequence = generate_sequence(seed, {"num_frames": frames})
            tracker_ = session.new_tracker()
            tracker_.initialize(sequence.frames[0], sequence.boxes[0])
            boxes = np.array([tracker_.track(frame).box for frame in sequence.frames[1:]])
            scores.append(float(np.mean(box_iou(boxes, sequence.boxes[1:]))))
    return scores


def iou_net_correlation(checkpoint_path, pairs: int = 16, seed: int = 1003) -> float:
    """Pearson r between an AtomNet's predicted IoUs and the true IoUs of training-style proposals."""
    checkpoint = read_checkpoint(checkpoint_path)
    net = build_model(checkpoint.config)
    load_state_strict(net, checkpoint.state_dict, source=str(checkpoint_path))
    net.eval()
    sequence = generate_sequence(seed, {"num_frames": pairs + 1})
    rng = np.random.default_rng(seed)
    samples = [atom_pair(sequence.frames[0], sequence.boxes[0], sequence.frames[k], sequence.boxes[k], rng,
                         AtomCropParams(sample_size=checkpoint.config.sample_size)) for k in range(1, pairs + 1)]
    batch = {key: torch.from_numpy(np.stack([s[key] for s in samples])).float() for key in samples[0]}
    with torch.no_grad():
        feats = net.extract(torch.cat([batch["train_image"], batch["test_image"]]))
        layers = net.config.iou_layers
        predicted = net.iou_net([feats[f"iou_{layer}"][:pairs] for layer in layers],
                                [feats[f"iou_{layer}"][pairs:] for layer in layers],
                                batch["train_box"][None], batch["proposals"][None])[0]
    return float(np.corrcoef(predicted.numpy().ravel(), batch["proposal_iou"].numpy().ravel())[0, 1])


def test_every_shipped_checkpoint_is_guarded():
    assert set(demo_trackers()) == set(TRACKING)


@pytest.mark.parametrize("tracker", sorted(TRACKING))
def test_shipped_checkpoint_tracks_a_generated_sequence(tracker, one_thread):
    seeds, frames, threshold = TRACKING[tracker]
    scores = mean_tracking_iou(None, tracker, seeds, frames)
    print(tracker, "mean IoU per sequence", [round(s, 3) for s in scores])
    assert np.mean(scores) >= threshold, f"{tracker} demo checkpoint: mean IoU {scores} < {threshold}"


def test_shipped_aff_atom_iou_net_ranks_proposals(one_thread):
    r = iou_net_correlation(demo_checkpoint("aff-atom"))
    print("aff-atom IoU-Net Pearson r", round(r, 3))
    assert r >= IOU_NET_R, f"the shipped AFF-ATOM IoU-Net's predictions correlate with the true IoU at r = {r:.3f}"
