"""Sources, pair sampling, determinism and rank sharding of the sample stream."""

from __future__ import annotations

import numpy as np
import pytest

from edge_tracker.datasets.synthetic import SyntheticConfig, generate_sequence
from edge_tracker.errors import InputError
from training.data import (
    FolderSource,
    PairDataset,
    StepBatchSampler,
    make_loader,
    parse_sources,
    valid_frames,
)


def _echo(first_frame, first_box, second_frame, second_box, rng, other=None):
    """A sample maker that records which boxes it was given (frames are numbers here)."""
    return {"frames": np.array([first_frame, second_frame]), "boxes": np.stack([first_box, second_box])}


class _ListSource:
    """In-memory source: frame ``t`` is the number ``t``; boxes given."""

    def __init__(self, boxes):
        self.boxes_ = [np.asarray(b, float) for b in boxes]
        self.spec = "list"

    def __len__(self):
        return len(self.boxes_)

    def boxes(self, index):
        return self.boxes_[index]

    def frame(self, index, frame):
        return frame


def test_parse_sources():
    synthetic = parse_sources(["synthetic:5", "synthetic:3:100"])
    assert [len(s) for s in synthetic] == [5, 3]
    assert synthetic[1].seed == 100 and synthetic[1].spec == "synthetic:3:100"
    for bad in ("synthetic:", "synthetic:x", "synthetic:2:-1", "synthetic:0"):
        with pytest.raises(InputError, match="synthetic"):
            parse_sources([bad])
    with pytest.raises(InputError, match="does not exist"):
        parse_sources(["/no/such/folder"])
    with pytest.raises(InputError, match="no training data"):
        parse_sources([])


def test_folder_sources_read_a_sequence_and_a_dataset_root(tmp_path):
    config = SyntheticConfig(num_frames=6, width=96, height=72, object_size_min=16, object_size_max=20)
    for i in range(2):
        generate_sequence(i, config).write(tmp_path / "root" / f"seq{i}")
    single = FolderSource(tmp_path / "root" / "seq0")
    root = FolderSource(tmp_path / "root")
    assert len(single) == 1 and len(root) == 2
    assert root.frame(1, 3).shape == (72, 96, 3)
    assert root.boxes(0).shape == (6, 4)
    dataset = PairDataset([root, single], _echo, max_gap=100, seed=0)
    assert dataset[0]["boxes"].shape == (2, 4)
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="neither a dataset root"):
        FolderSource(tmp_path / "empty")


def test_pairs_skip_absent_frames_and_respect_the_gap():
    nan = [np.nan] * 4
    boxes = [[nan if t % 3 == 0 else [t, t, 10, 10] for t in range(40)],
             [[t, t, 10, 10] if t in (5,) else nan for t in range(40)],  # one valid frame: a pair of itself
             [nan] * 40]  # never usable
    dataset = PairDataset([_ListSource(boxes)], _echo, max_gap=4, seed=1)
    seen_single = False
    for k in range(200):
        sample = dataset[k]
        first, second = (int(f) for f in sample["frames"])
        assert np.isfinite(sample["boxes"]).all()
        assert sample["boxes"][0][0] == first and sample["boxes"][1][0] == second
        assert abs(first - second) <= 4
        if first == second:
            assert first == 5
            seen_single = True
    assert seen_single


def test_valid_frames_needs_a_positive_size():
    boxes = np.array([[0, 0, 5, 5], [np.nan] * 4, [0, 0, 0, 5], [1, 1, 2, 2]], float)
    assert valid_frames(boxes).tolist() == [0, 3]


def test_samples_are_a_pure_function_of_seed_and_index():
    make = parse_sources(["synthetic:2"])
    from training.crops import siam_pair

    a = PairDataset(make, siam_pair, max_gap=100, seed=7)
    b = PairDataset(parse_sources(["synthetic:2"]), siam_pair, max_gap=100, seed=7)
    for k in (0, 5):
        one, two = a[k], b[k]
        assert all(np.array_equal(one[n], two[n]) for n in one)
    assert not np.array_equal(a[0]["search"], a[1]["search"])
    other = PairDataset(make, siam_pair, max_gap=100, seed=8)
    assert not np.array_equal(a[0]["search"], other[0]["search"])


def test_ranks_get_disjoint_shards_that_cover_the_stream():
    world, batch = 3, 2
    per_rank = [list(StepBatchSampler(batch, 1, 4, rank, world)) for rank in range(world)]
    flat = [i for rank in per_rank for step in rank for i in step]
    assert len(flat) == len(set(flat)) == 3 * world * batch
    assert sorted(flat) == list(range(1 * world * batch, 4 * world * batch))
    single = list(StepBatchSampler(batch, 0, 3))
    assert single == [[0, 1], [2, 3], [4, 5]]
    with pytest.raises(InputError):
        StepBatchSampler(0, 0, 1)


def test_loader_with_a_worker_gives_the_same_batches():
    dataset = PairDataset([_ListSource([[[t, t, 10, 10] for t in range(30)]])], _echo, max_gap=5, seed=3)
    plain = [b["frames"] for b in make_loader(dataset, 2, 1, 3)]
    threaded = [b["frames"] for b in make_loader(dataset, 2, 1, 3, workers=1)]
    assert len(plain) == 2
    assert all(np.array_equal(x.numpy(), y.numpy()) for x, y in zip(plain, threaded))
