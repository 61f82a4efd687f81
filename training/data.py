"""Training data: sequence sources, frame-pair sampling, and a resumable, rank-sharded loader.

Sources (``--data``), any mix of:

- a dataset root or a single sequence folder in any layout ``edge_tracker.datasets.readers`` reads
  (GOT-10k, LaSOT, TrackingNet, OTB, VOT, UAV123, ...);
- ``split:training[@ROOT]``: every training-split folder of ``training/splits.toml``; a folder that
  holds an evaluation-split sequence is refused (``training.splits``);
- ``synthetic:N[:SEED]``: N procedural sequences (60 frames, 320x240), sequence i generated from
  seed ``SEED + i`` (default SEED 0) the first time it is needed and kept in a per-process LRU cache.
  Generating one takes about 0.5 s on one CPU core; for N much larger than the cache, write them to
  disk once (``python -m edge_tracker.datasets.synthetic OUT --count N``) and train on the folder.

Sample ``k`` of a run is a pure function of ``(seed, k)``: its generator is
``np.random.default_rng([seed, k])``, which picks a sequence uniformly over all sources, a first frame
uniformly among the frames with a box, and a second frame among those with a box at most ``max_gap``
frames away (another frame when there is one). A run therefore sees the same stream whatever the
number of workers, and a resumed run continues it exactly.

Sharding (what ``DistributedSampler`` does, for an endless stream): ``StepBatchSampler`` gives rank
``r`` of ``W`` at step ``s`` the sample indices ``(s * W + r) * B + b``, ``b < B``: the ranks' batches
are disjoint, and the global batch of a step is ``W * B`` samples.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from edge_tracker.errors import InputError
from training.splits import check_training_data, expand_split_sources

SYNTHETIC_FRAMES = 60  # frames per synthetic training sequence
SYNTHETIC_PATTERN = re.compile(r"^synthetic:(\d+)(?::(\d+))?$")


class SyntheticSource:
    """``synthetic:N[:SEED]``: sequence i is ``generate_sequence(SEED + i)``, generated lazily.

    Frames where the target is wholly hidden (visible fraction 0) count as absent, as in the
    GOT-10k folders the generator writes.
    """

    def __init__(self, count: int, seed: int = 0, cache_size: int = 64) -> None:
        if count < 1:
            raise InputError(f"synthetic:N needs N >= 1 sequences, got {count}")
        self.count, self.seed, self.cache_size = count, seed, max(1, cache_size)
        self.spec = f"synthetic:{count}:{seed}"
        self._cache: OrderedDict[int, tuple[np.ndarray, np.ndarray]] = OrderedDict()

    def __len__(self) -> int:
        return self.count

    def boxes(self, index: int) -> np.ndarray:
        return self._get(index)[1]

    def frame(self, index: int, frame: int) -> np.ndarray:
        return self._get(index)[0][frame]

    def _get(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        if index in self._cache:
            self._cache.move_to_end(index)
            return self._cache[index]
        from edge_tracker.datasets.synthetic import SyntheticConfig, generate_sequence

        sequence = generate_sequence(self.seed + index, SyntheticConfig(num_frames=SYNTHETIC_FRAMES))
        boxes = np.where((sequence.visible > 0)[:, None], sequence.boxes, np.nan)
        self._cache[index] = (sequence.frames, boxes)
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return self._cache[index]

    def __getstate__(self) -> dict:
        # a worker started with "spawn" rebuilds its own cache instead of receiving a copy
        return {**self.__dict__, "_cache": OrderedDict()}


class FolderSource:
    """A dataset root or one sequence folder, read with ``edge_tracker.datasets.readers``.

    Picklable (for "spawn" workers): the reader objects are rebuilt in each process from the path.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.spec = str(self.path)
        if not self.path.exists():
            raise InputError(f"data folder {self.path} does not exist; pass a dataset root, a sequence "
                             f"folder or synthetic:N")
        if not self.path.is_dir():
            raise InputError(f"data source {self.path} is not a folder; pass a dataset root, a sequence "
                             f"folder or synthetic:N")
        self._open()

    def _open(self) -> None:
        from edge_tracker.datasets.readers import load_dataset, load_sequence

        try:
            self._dataset = load_dataset(self.path)
        except InputError as dataset_error:
            try:
                self._dataset = [load_sequence(self.path)]
            except InputError as sequence_error:
                raise InputError(f"{self.path} is neither a dataset root ({dataset_error}) nor a sequence "
                                 f"folder ({sequence_error})") from None
        self._count = len(self._dataset)

    def __len__(self) -> int:
        return self._count

    def boxes(self, index: int) -> np.ndarray:
        return self._sequence(index).boxes

    def frame(self, index: int, frame: int) -> np.ndarray:
        return self._sequence(index).frame(frame)

    def _sequence(self, index: int):
        if self._dataset is None:
            self._open()
        return self._dataset[index]

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_dataset": None}


Source = SyntheticSource | FolderSource


def parse_sources(specs: Sequence[str], cache_size: int = 64) -> list[Source]:
    """Build the sources of ``--data`` values; a bad one raises InputError naming it."""
    if not specs:
        raise InputError("no training data given; pass --data with dataset folders and/or synthetic:N")
    specs = expand_split_sources(specs)  # split:training -> the training-split folders
    check_training_data(specs)  # an evaluation-split sequence is never training data
    sources: list[Source] = []
    for spec in specs:
        spec = str(spec)
        if spec.startswith("synthetic:"):
            match = SYNTHETIC_PATTERN.match(spec)
            if match is None:
                raise InputError(f"bad data source {spec!r}: write synthetic:N or synthetic:N:SEED with "
                                 f"non-negative integers, e.g. synthetic:200:0")
            sources.append(SyntheticSource(int(match.group(1)), int(match.group(2) or 0), cache_size))
        else:
            sources.append(FolderSource(spec))
    return sources


@dataclass(frozen=True)
class FramePair:
    """Where a sample's two frames come from: source, sequence, first frame, second frame."""

    source: int
    sequence: int
    first: int
    second: int


def valid_frames(boxes: np.ndarray) -> np.ndarray:
    """Indices of the frames with a box of positive width and height (NaN rows are absent targets)."""
    boxes = np.asarray(boxes, dtype=np.float64)
    ok = np.isfinite(boxes).all(axis=1)
    ok[ok] = (boxes[ok, 2] > 0) & (boxes[ok, 3] > 0)
    return np.flatnonzero(ok)


class PairDataset(Dataset):
    """Map-style dataset of training pairs: ``dataset[k]`` is sample ``k`` of the endless stream.

    Args:
        sources: from ``parse_sources``.
        make_sample: ``(first_frame, first_box, second_frame, second_box, rng, other=...) -> dict``
            of numpy arrays (``training.crops.siam_pair`` / ``atom_pair`` with their parameters
            bound); ``other()`` draws a frame and box of another sequence from ``rng`` (distractors).
        max_gap: largest frame distance between the two frames (SiamFC 100, ATOM 50).
        seed: the run's seed.
    """

    def __init__(self, sources: Sequence[Source], make_sample: Callable[..., dict], max_gap: int,
                 seed: int) -> None:
        if not sources:
            raise InputError("no training sources")
        self.sources = list(sources)
        self.make_sample = make_sample
        self.max_gap = int(max_gap)
        self.seed = int(seed)
        self._offsets = np.cumsum([0] + [len(s) for s in self.sources])

    def __len__(self) -> int:
        # the stream is endless; this is the number of sequences, for information only
        return int(self._offsets[-1])

    def pair(self, index: int, rng: np.random.Generator) -> FramePair:
        total = int(self._offsets[-1])
        for _ in range(100):
            flat = int(rng.integers(total))
            source = int(np.searchsorted(self._offsets, flat, side="right") - 1)
            sequence = flat - int(self._offsets[source])
            frames = valid_frames(self.sources[source].boxes(sequence))
            if len(frames):
                break
        else:
            raise InputError(f"sample {index}: 100 sequences drawn and none has a frame with a box; check the "
                             f"annotations of {[s.spec for s in self.sources]}")
        first = int(frames[rng.integers(len(frames))])
        near = frames[(np.abs(frames - first) <= self.max_gap) & (frames != first)]
        second = int(near[rng.integers(len(near))]) if len(near) else first
        return FramePair(source, sequence, first, second)

    def __getitem__(self, index: int) -> dict[str, np.ndarray]:
        rng = np.random.default_rng([self.seed, int(index)])
        pair = self.pair(int(index), rng)
        source = self.sources[pair.source]
        boxes = source.boxes(pair.sequence)
        return self.make_sample(source.frame(pair.sequence, pair.first), boxes[pair.first],
                                source.frame(pair.sequence, pair.second), boxes[pair.second], rng,
                                other=lambda: self.other_frame(pair, rng))

    def other_frame(self, pair: FramePair, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """A frame with a box from another sequence than ``pair``'s (the same one if it is the only one),
        drawn from ``rng``: the source of distractor pairs."""
        total = int(self._offsets[-1])
        own = int(self._offsets[pair.source]) + pair.sequence
        for _ in range(100):
            flat = int(rng.integers(total))
            if flat == own and total > 1:
                continue
            source = int(np.searchsorted(self._offsets, flat, side="right") - 1)
            sequence = flat - int(self._offsets[source])
            frames = valid_frames(self.sources[source].boxes(sequence))
            if len(frames):
                frame = int(frames[rng.integers(len(frames))])
                return self.sources[source].frame(sequence, frame), self.sources[source].boxes(sequence)[frame]
        raise InputError(f"no other sequence with a box for a distractor pair among {[s.spec for s in self.sources]}")


class StepBatchSampler(Sampler[list[int]]):
    """Batches of sample indices for steps ``start .. stop - 1`` of one rank (see the module docstring)."""

    def __init__(self, batch_size: int, start_step: int, stop_step: int, rank: int = 0,
                 world_size: int = 1) -> None:
        if batch_size < 1:
            raise InputError(f"batch size must be >= 1, got {batch_size}")
        if not 0 <= rank < world_size:
            raise InputError(f"rank {rank} is outside 0..{world_size - 1}")
        self.batch_size, self.start, self.stop = batch_size, start_step, stop_step
        self.rank, self.world_size = rank, world_size

    def __len__(self) -> int:
        return max(0, self.stop - self.start)

    def __iter__(self) -> Iterator[list[int]]:
        for step in range(self.start, self.stop):
            first = (step * self.world_size + self.rank) * self.batch_size
            yield list(range(first, first + self.batch_size))


def make_loader(dataset: PairDataset, batch_size: int, start_step: int, stop_step: int, rank: int = 0,
                world_size: int = 1, workers: int = 0, pin_memory: bool = False) -> DataLoader:
    """A DataLoader over ``dataset`` yielding one collated batch per step (dict of tensors)."""
    sampler = StepBatchSampler(batch_size, start_step, stop_step, rank, world_size)
    return DataLoader(dataset, batch_sampler=sampler, num_workers=workers, pin_memory=pin_memory,
                      persistent_workers=False, prefetch_factor=2 if workers > 0 else None)


def to_device(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    return {name: value.to(device, non_blocking=True) for name, value in batch.items()}


def describe_sources(sources: Sequence[Source]) -> list[str]:
    """``spec (N sequences)`` per source, for the run record."""
    return [f"{s.spec} ({len(s)} sequences)" for s in sources]
