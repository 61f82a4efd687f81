"""Building a calibration set: the FP32 tracker runs on real frames and every phase's feeds are kept.

Each phase must be calibrated on what it sees while tracking: SCS-Siam's template crop at
initialisation and its three search scales around the last position, AFF-ATOM's 288 px samples
(the first frame's augmented copies included), and for the later phases the features, modulation
vectors, proposals, projections and filters that the earlier phases and the online learning
produce. So instead of re-deriving those, the builder *runs the tracker* (FP32 graphs on ONNX
Runtime, the tracker's own crop geometry and preprocessing) with every runner wrapped in a
:class:`RecordingRunner`, and keeps the feeds.

Sampling, per source: *episodes* of ``episode_length`` frames. An episode starts the tracker on a
jittered box (:func:`calibration.sources.jitter_box`: the imprecision of a user's box) and tracks
the rest of the episode, so the search crops carry the target displacements of real motion and of
the tracker's own errors. Sequences: episode starts spread evenly over the annotated frames (with
a seeded offset), at ground-truth boxes. Videos and frame folders: consecutive episodes from frame
0, each started where the previous one left the target. Every draw comes from one seeded
generator: the same sources, model and seed give the same set.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from calibration.sources import Source, jitter_box
from calibration.store import write_set
from edge_tracker import __version__
from edge_tracker.backends.base import Runner, TensorMeta
from edge_tracker.errors import InputError
from edge_tracker.manifest import read_manifest
from edge_tracker.session import Session

logger = logging.getLogger("edge_tracker.calibration")

DEFAULT_SIZE = 500  # network images per every-frame phase (SCS-Siam's search feed holds 3)
RARE_PHASE_BYTES = 256 << 20  # float32 feed bytes kept at most per phase that does not run every frame
RARE_PHASE_MIN_FEEDS = 8


@dataclass(frozen=True)
class SamplingParams:
    """How a set is sampled (recorded in its manifest)."""

    size: int = DEFAULT_SIZE  # images per every-frame phase; other phases keep at most this many feeds
    episode_length: int = 10  # frames per episode, the initialisation frame included
    position_jitter: float = 0.05  # init box centre jitter, std as a fraction of sqrt(w h)
    scale_jitter: float = 0.05  # init box size jitter, std of the log-scale per axis
    seed: int = 0

    def __post_init__(self) -> None:
        if self.size < 1:
            raise InputError(f"--size must be >= 1, got {self.size}")
        if self.episode_length < 2:
            raise InputError(f"episode length must be >= 2 (initialisation + one tracked frame), "
                             f"got {self.episode_length}")
        if self.position_jitter < 0 or self.scale_jitter < 0:
            raise InputError("jitter must be >= 0")


class RecordingRunner(Runner):
    """Runs ``inner`` and keeps a host copy of the feeds it is given (``records``).

    ``limit``: keep at most this many, a uniform sample of all seen (reservoir sampling with
    ``rng``), so that a phase with large feeds never holds more than ``limit`` in memory.
    """

    def __init__(self, inner: Runner, limit: int | None = None, rng: np.random.Generator | None = None) -> None:
        super().__init__(inner.name)
        self.inner = inner
        self.records: list[dict[str, np.ndarray]] = []
        self.limit = limit
        self.seen = 0
        self._rng = rng if rng is not None else np.random.default_rng(0)

    def input_metadata(self) -> dict[str, TensorMeta]:
        return self.inner.input_metadata()

    def output_metadata(self) -> dict[str, TensorMeta]:
        return self.inner.output_metadata()

    def _activate(self) -> None:
        self.inner.activate()

    def _deactivate(self) -> None:
        self.inner.deactivate()

    def _infer(self, feed, copy_outputs_to_host):
        self.seen += 1
        slot = len(self.records)
        if self.limit is not None and slot >= self.limit:
            slot = int(self._rng.integers(self.seen))
        if slot < (self.limit if self.limit is not None else slot + 1):
            record = {name: np.array(value, copy=True) for name, value in feed.items()}
            if slot == len(self.records):
                self.records.append(record)
            else:
                self.records[slot] = record
        return self.inner.infer(feed, copy_outputs_to_host)


def build_calibration_set(sources: list[Source], out: Path, *, tracker: str | None = None,
                          model: Path | None = None, params: SamplingParams = SamplingParams(),
                          progress: bool = False) -> dict[str, Any]:
    """Run the FP32 tracker over ``sources`` and write the set to ``out``; return its manifest.

    ``model``: an export folder (FP32 graphs); None for ``tracker``'s demo checkpoint.
    """
    if not sources:
        raise InputError("no calibration source given; give an annotated sequence folder or VIDEO@X,Y,W,H")
    with Session(model, tracker=tracker, device="cpu") as session:
        if getattr(session.params, "refine", True) is False:
            # A checkpoint may recommend tracking without IoU refinement (the demo AFF-ATOM does); the
            # refinement graph still needs calibration data for whoever turns it on.
            session.params = dataclasses.replace(session.params, refine=True)
        base_params = session.params = _learning_params(session, params.episode_length)
        rng = np.random.default_rng(params.seed)
        every_frame = _every_frame_phases(session)
        targets = _targets({name: r.activate() for name, r in session.loaded.runners.items()}, params.size,
                           every_frame)
        recorders = {name: RecordingRunner(runner, None if name in every_frame else targets[name], rng).activate()
                     for name, runner in session.loaded.runners.items()}
        session.loaded.runners = recorders
        per_source = math.ceil(max(targets[p] for p in every_frame) / len(sources))
        used = []
        from tqdm import tqdm

        with tqdm(total=len(sources), unit="source", disable=not progress, desc="calibration") as bar:
            for source in sources:
                used.append(_sample_source(session, recorders, source, per_source, every_frame, params, rng,
                                           base_params))
                bar.update(1)
        feeds = {name: _subsample(r.records, targets[name], rng) for name, r in recorders.items()}
        empty = [name for name, items in feeds.items() if not items]
        if len(empty) == len(feeds) or any(name in every_frame for name in empty):
            raise InputError(f"the sources gave no feed for phase(s) {empty}: give longer sequences "
                             "(each episode needs an initial frame and tracked frames)")
        if empty:  # phases the tracker's settings never run (e.g. the graph learner's, with learner=numpy)
            logger.warning("no calibration feed for phase(s) %s: the tracker never ran them; their "
                           "precision variants stay FP32", empty)
            feeds = {name: items for name, items in feeds.items() if items}
        export = read_manifest(session.model, verify=False)
        info = {
            "tracker": session.name,
            "export": {"folder": str(session.model),
                       "phases": {p["name"]: {"file": p["file"], "sha256": p["sha256"]} for p in export["phases"]},
                       "inputs": {name: {m.name: list(m.shape) for m in r.input_metadata().values()}
                                  for name, r in recorders.items()}},
            "sources": used,
            "sampling": asdict(params),
            "tracking_params": asdict(base_params),
            "edge_tracker": __version__,
        }
    manifest = write_set(out, feeds, info)
    logger.info("calibration set %s: %s", out, ", ".join(f"{k} {v}" for k, v in manifest["counts"].items()))
    return manifest


def _targets(runners: dict[str, Runner], size: int, every_frame: list[str]) -> dict[str, int]:
    """Feeds to keep per phase: ``size`` images, so a 3-scale search feed counts 3.

    A phase that does not run every frame keeps at most ``RARE_PHASE_BYTES`` of float32 feeds (at
    least ``RARE_PHASE_MIN_FEEDS``): the learning phases' feeds hold the sample memory, 41 MB each
    on AFF-ATOM, and only their FP16 error is measured on them (no INT8 graph is calibrated).
    """
    targets = {}
    for name, runner in runners.items():
        meta = runner.input_metadata().values()
        images = [m for m in meta if len(m.shape) == 4 and m.shape[1] == 3]
        per_feed = images[0].shape[0] if images else 1
        targets[name] = max(1, math.ceil(size / per_feed))
        if name not in every_frame:
            feed_bytes = sum(4 * math.prod(m.shape) for m in meta)
            targets[name] = min(targets[name], max(RARE_PHASE_MIN_FEEDS, RARE_PHASE_BYTES // max(feed_bytes, 1)))
    return targets


def _every_frame_phases(session: Session) -> list[str]:
    phases = read_manifest(session.model, verify=False)["phases"]
    return [p["name"] for p in phases if p.get("when") == "every frame"] or [p["name"] for p in phases]


def _learning_params(session: Session, episode_length: int):
    """The tracker's settings for calibration, such that every exported learning phase runs.

    An export with the classifier-learning graphs (``classifier_init``...) is calibrated with
    ``learner=graph`` (the default numpy learner never runs them), and with filter updates often
    enough to happen inside an episode: every ``episode_length // 3`` frames, spread over as many
    frames on odd episodes (``classifier_linearize``, ``classifier_cg_step``) and whole on even ones
    (``classifier_update``). The features, filters and memories fed to them are the tracker's own.
    """
    names = {p["name"] for p in read_manifest(session.model, verify=False)["phases"]}
    if "classifier_init" not in names or not hasattr(session.params, "learner"):
        return session.params
    every = max(1, episode_length // 3)
    return dataclasses.replace(session.params, learner="graph", train_skipping=every,
                               update_spread_frames=0)


def _episode_params(base, episode: int):
    """Odd episodes spread their filter updates (see ``_learning_params``); others as ``base``."""
    if getattr(base, "learner", None) != "graph" or episode % 2 == 0:
        return base
    return dataclasses.replace(base, update_spread_frames=base.train_skipping)


def _sample_source(session: Session, recorders, source: Source, budget: int, every_frame: list[str],
                   params: SamplingParams, rng: np.random.Generator, base_params=None) -> dict[str, Any]:
    """Episodes over ``source`` until ``budget`` feeds of the every-frame phases were added."""
    start_counts = {name: len(recorders[name].records) for name in every_frame}

    def added() -> int:
        return min(len(recorders[name].records) - start_counts[name] for name in every_frame)

    episodes = []
    for start in _episode_starts(source, budget, params, rng):
        if added() >= budget:
            break
        box = source.box_at(start) if source.kind == "sequence" or not episodes else episodes[-1]["last_box"]
        if box is None:
            continue
        if base_params is not None:
            session.params = _episode_params(base_params, len(episodes))
        tracker = session.new_tracker()
        frames = source.frames(start, start + params.episode_length)
        first = next(frames, None)
        if first is None:
            break
        init = jitter_box(box, rng, params.position_jitter, params.scale_jitter)
        init = _inside(init, first[1].shape)
        tracker.initialize(first[1], init)
        last = first[0]
        result_box = init
        for index, image in frames:
            result_box = np.asarray(tracker.track(image).box, dtype=np.float64)
            last = index
        episodes.append({"start": int(start), "end": int(last), "last_box": result_box})
    if not episodes:
        raise InputError(f"calibration source {source.uri}: no frame with a usable box to start the tracker on")
    return {"uri": source.uri, "kind": source.kind, "frames": source.length,
            "episodes": [[e["start"], e["end"]] for e in episodes]}


def _episode_starts(source: Source, budget: int, params: SamplingParams, rng: np.random.Generator):
    length = params.episode_length
    if source.kind != "sequence":  # consecutive: each episode starts where the last one stopped
        return range(0, max(source.length - 1, 1), length - 1)
    wanted = max(1, math.ceil(budget / (length - 1)))
    usable = np.flatnonzero([source.box_at(i) is not None for i in range(max(source.length - 1, 1))])
    if usable.size == 0:
        return []
    if wanted >= usable.size:
        return [int(i) for i in usable]
    stride = usable.size / wanted
    offset = rng.uniform(0, stride)
    return [int(usable[min(int(offset + k * stride), usable.size - 1)]) for k in range(wanted)]


def _inside(box: np.ndarray, shape) -> np.ndarray:
    """Keep a jittered box's centre inside the frame (the trackers refuse a box outside it)."""
    height, width = shape[:2]
    x, y, w, h = box
    cx, cy = x + w / 2, y + h / 2
    if 1 <= cx <= width - 1 and 1 <= cy <= height - 1:
        return box  # unchanged (no round trip through the centre)
    cx, cy = np.clip(cx, 1, width - 1), np.clip(cy, 1, height - 1)
    return np.array([cx - w / 2, cy - h / 2, w, h])


def _subsample(records: list, target: int, rng: np.random.Generator) -> list:
    if len(records) <= target:
        return records
    keep = np.sort(rng.choice(len(records), size=target, replace=False))
    return [records[i] for i in keep]
