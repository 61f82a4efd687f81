"""AFF-ATOM / ATOM tracking parameters: one frozen, commented object (pytracking's parameter file).

Everything here can be changed per run (``--param KEY=VALUE``); what is fixed when the graphs are
exported (sample size, proposals, refinement steps) lives in the export's ``AtomConfig``. The
first-frame augmentation set is here too, because the sample memory must hold its samples
(``AtomParams.num_init_samples``).
"""

from __future__ import annotations

from dataclasses import dataclass

from edge_tracker.errors import ConfigError
from edge_tracker.params import params_from_dict
from edge_tracker.preprocess import ATOM_SEARCH_AREA_SCALE

# First-frame augmentations (pytracking's ATOM set): rotations in degrees, Gaussian blurs as
# (sigma_y, sigma_x) in crop pixels, shifts as a fraction of half the crop side.
ROTATIONS = (5, -5, 10, -10, 20, -20, 30, -30, 45, -45, -60, 60)
BLURS = ((2.0, 0.2), (0.2, 2.0), (3.0, 1.0), (1.0, 3.0), (2.0, 2.0))
SHIFTS = ((0.6, 0.6), (-0.6, 0.6), (0.6, -0.6), (-0.6, -0.6))
LEARNERS = ("numpy", "graph")  # who learns the classifier (AtomParams.learner)


@dataclass(frozen=True)
class AtomParams:
    """ATOM tracking parameters (SPEC 1.6; pytracking's ATOM defaults where SPEC is silent)."""

    # sampling
    search_area_scale: float = ATOM_SEARCH_AREA_SCALE  # crop side = this * sqrt(target w * h), image pixels
    min_target_side: float = 5.0  # the target box never shrinks below this, image pixels
    # classifier learning
    output_sigma_factor: float = 0.25  # label sigma = this * sqrt(target area), in feature cells
    filter_reg: float = 0.1  # filter regularisation
    projection_reg: float = 1e-4  # projection regularisation
    projection_init: str = "random"  # first-frame start of the projection: "random" (seeded) or "pca"
    init_gn_iterations: int = 6  # first frame: Gauss-Newton steps over projection and filter
    init_cg_iterations: int = 10  # first frame: conjugate-gradient iterations per Gauss-Newton step
    update_cg_iterations: int = 5  # later: CG iterations of a filter update
    train_skipping: int = 10  # later: update the filters every this many frames
    learner: str = "numpy"  # "numpy": learn on the host, Fourier domain (the CPU's fast path); "graph": the
    #   export's classifier_init/classifier_update graphs through the runners (learning/graph_learner.py)
    update_spread_frames: int = 10  # 0: a filter update runs whole in the frame that asks; n: its units
    #   (linearisation, each CG iteration) run over n frames on a copy of the filters, swapped in when done.
    #   10 (= train_skipping): no frame pays a whole update (4,000 frames on 2 CPU cores: p99/p50 frame
    #   time 15.1 whole, 1.7 spread), for -0.5 AUC points (numpy) / +0.3 (graph) on the 29 shared
    #   sequences; docs/decisions.md, "Spreading the filter update"
    augment: bool = True  # first frame: learn from augmented copies (else the crop alone)
    dropout_samples: int = 7  # first frame: feature-dropout copies of the unaugmented crop
    dropout_probability: float = 0.2  # channel dropout rate of those copies
    memory_size: int = 250  # training samples kept per layer
    learning_rate: float = 0.01  # weight of a new sample in the memory
    hard_negative_learning_rate: float = 0.02  # weight of a sample from a hard-negative frame
    init_samples_minimum_weight: float = 0.25  # first-frame samples keep at least this share
    # localisation
    target_not_found_threshold: float = 0.25  # peak below this: not_found, no update
    distractor_threshold: float = 0.8  # second peak above this * peak: uncertain or hard negative
    hard_negative_threshold: float = 0.5  # second peak above this * peak: hard negative
    target_neighborhood_scale: float = 2.2  # masked around the peak before the second peak, x target
    displacement_scale: float = 0.8  # distance that tells target from distractor, x half the map
    subcell_peak: bool = True  # refine the peak with a parabola through its neighbours
    # target loss (edge_tracker.trackers.loss). ATOM's classifier is trained towards a peak of 1, so its
    # thresholds are absolute, as pytracking's. The demo checkpoint's peaks are 0.3-0.75 in view and
    # 0.13-0.21 out of view, with single in-view frames down to 0.23 (generated leave-and-return clips,
    # benchmarks/target_loss.py): one frame below target_not_found_threshold is too weak a sign.
    lost_after_frames: int = 3  # not-found frames in a row that mean lost (before: held, "uncertain");
    #   0: every such frame is "not_found" at once and nothing widens (the behaviour before issue 16)
    target_found_threshold: float = 0.3  # lost: a peak at least this finds the target again (above
    #   target_not_found_threshold, so a found target is not lost again on the next frame)
    redetect: bool = True  # lost: every other frame samples a wider area (False: always the usual area)
    redetect_area_factor: float = 2.0  # that wider sample's side = this x the usual (5 x target -> 10 x)
    # IoU refinement (number of proposals and steps are set in the exported graph)
    refine: bool = True  # run the IoU-Net refinement (off: classifier position, size kept)
    box_jitter_position: float = 0.1  # proposal centre jitter, x sqrt(target area)
    box_jitter_size: float = 0.5  # proposal size jitter, x sqrt(target area)
    maximal_aspect_ratio: float = 6.0  # refined boxes beyond this aspect ratio are dropped
    iou_top_k: int = 3  # the final box is the mean of this many best refined boxes
    refine_size_rate: float = 1.0  # share of the refined size change taken each frame, in log scale:
    #   size = old^(1 - r) * refined^r. 1 is ATOM's (the refined size replaces the old); a weak IoU-Net
    #   (the CPU-trained demo's) sizes better damped, so its checkpoint recommends less (its model card)
    seed: int = 0  # seeds the proposal jitter, dropout copies and random projection start, per sequence

    def __post_init__(self) -> None:
        for name in ("search_area_scale", "min_target_side", "output_sigma_factor", "learning_rate",
                     "hard_negative_learning_rate", "maximal_aspect_ratio"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"{name} must be > 0, got {getattr(self, name)}")
        if self.projection_init not in ("random", "pca"):
            raise ConfigError(f"projection_init must be 'random' or 'pca', got {self.projection_init!r}")
        if self.learner not in LEARNERS:
            raise ConfigError(f"learner must be one of {list(LEARNERS)}, got {self.learner!r}")
        for name in ("init_gn_iterations", "init_cg_iterations", "update_cg_iterations", "dropout_samples",
                     "update_spread_frames"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)}")
        for name in ("train_skipping", "iou_top_k", "memory_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("learning_rate", "hard_negative_learning_rate", "dropout_probability"):
            if not 0 <= getattr(self, name) < 1:
                raise ConfigError(f"{name} must be in [0, 1), got {getattr(self, name)}")
        if not 0 < self.refine_size_rate <= 1:
            raise ConfigError(f"refine_size_rate must be in (0, 1] (1: take the refined size as found), "
                              f"got {self.refine_size_rate}")
        if not isinstance(self.redetect, bool):
            raise ConfigError(f"redetect must be true or false, got {self.redetect!r}")
        if not self.lost_after_frames >= 0:
            raise ConfigError(f"lost_after_frames must be >= 0 (0: never lost), got {self.lost_after_frames}")
        if not 1 <= self.redetect_area_factor <= 10:
            raise ConfigError(f"redetect_area_factor must be in [1, 10] (1: no widening; 10 x the usual "
                              f"area is mostly padding), got {self.redetect_area_factor}")
        if not self.target_not_found_threshold <= self.target_found_threshold <= 1:
            raise ConfigError(f"target_found_threshold must be in [target_not_found_threshold "
                              f"({self.target_not_found_threshold}), 1], got {self.target_found_threshold}")
        if self.memory_size <= self.num_init_samples:
            raise ConfigError(
                f"memory_size ({self.memory_size}) must exceed the {self.num_init_samples} first-frame "
                f"samples it always keeps; raise it, or lower dropout_samples / set augment=False")

    @classmethod
    def from_dict(cls, data: dict) -> "AtomParams":
        return params_from_dict(cls, data)

    @property
    def num_init_samples(self) -> int:
        if not self.augment:
            return 1 + self.dropout_samples
        return 2 + len(ROTATIONS) + len(BLURS) + len(SHIFTS) + self.dropout_samples
