"""The options of one training run: one frozen, typed record, every field commented.

``make_config(task, tracker, data, out, **overrides)`` fills the recipe's defaults (``DEFAULTS``) and
rejects unknown option names with the list of valid ones. The CLI builds its record the same way.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge_tracker.errors import ConfigError
from export.models.config import ATOM_TRACKERS, SIAM_TRACKERS

TASKS = {"siam": SIAM_TRACKERS, "atom": ATOM_TRACKERS}

# Per-recipe defaults (docs/training.md says where each comes from).
DEFAULTS: dict[str, dict[str, Any]] = {
    "siam": {"batch_size": 8, "lr": 1e-2, "lr_end": 1e-5, "weight_decay": 1e-5, "max_gap": 100},
    "atom": {"batch_size": 64, "lr": 1e-3, "lr_end": None, "weight_decay": 0.0, "max_gap": 50},
}

# Options that define the run: a resumed run must have the same values, or it would not continue
# the same optimisation.
IDENTITY = ("task", "tracker", "data", "seed", "steps", "batch_size", "lr", "lr_end", "weight_decay",
            "momentum", "corr_weight", "freeze_backbone", "clip_grad", "max_gap", "template_size",
            "search_size", "sample_size", "arch", "augment")
# The value a run saved before an option existed had (so that older runs still --resume).
LEGACY_IDENTITY = {"augment": "basic"}
AUGMENTS = ("basic", "tracking")


@dataclass(frozen=True)
class TrainConfig:
    """One training run."""

    task: str  # "siam" (SCS-Siam family) or "atom" (AFF-ATOM / ATOM)
    tracker: str  # network: scs-siam, sca-siam, ssa-siam | aff-atom, atom
    data: tuple[str, ...]  # sources: dataset roots, sequence folders, synthetic:N[:SEED]
    out: Path  # output folder: last.pt, log.jsonl, run.json, <tracker>.safetensors
    steps: int = 50_000  # optimiser steps of the whole run (the schedule spans them)
    batch_size: int = 8  # pairs per step and per process (global batch = this x processes)
    lr: float = 1e-2  # initial learning rate
    lr_end: float | None = 1e-5  # siam: final learning rate of the exponential decay (None for atom)
    weight_decay: float = 1e-5  # L2 weight decay (SGD) / Adam's weight_decay
    momentum: float = 0.9  # siam: SGD momentum
    corr_weight: float = 1.0  # atom: lambda, weight of the correlation loss next to the IoU MSE
    freeze_backbone: bool = False  # atom: keep the backbone's weights and BN statistics fixed
    clip_grad: float | None = None  # clip the gradient's global L2 norm to this (None: no clipping)
    max_gap: int = 100  # largest frame distance within a pair (SiamFC 100, ATOM 50)
    template_size: int = 127  # siam: template crop side, px
    search_size: int = 255  # siam: search crop side, px
    sample_size: int = 288  # atom: crop side, px (multiple of 32)
    arch: dict[str, Any] = dataclasses.field(default_factory=dict)  # architecture record overrides (--arch)
    augment: str = "tracking"  # "tracking": + aspect, blur, colour, negatives (issue 17); "basic": the first demos'
    device: str = "cpu"  # "cpu" or "cuda" (under torchrun: cuda:LOCAL_RANK)
    workers: int = 0  # data-loader worker processes per training process
    threads: int | None = None  # torch intra-op CPU threads of each training process (None: torch's default)
    seed: int = 0  # seeds the initial weights and the sample stream
    resume: bool = False  # continue OUT/last.pt
    init: Path | None = None  # start from this checkpoint's weights (.safetensors, same tracker)
    max_minutes: float | None = None  # stop cleanly (and save) after this much wall time
    stop_at: int | None = None  # stop cleanly (and save) after this step, to run a schedule in parts
    log_every: int = 10  # steps per log.jsonl line
    save_every: int = 500  # steps between OUT/last.pt saves
    cache_sequences: int = 64  # synthetic sequences kept in memory per process
    quiet: bool = False  # no progress bar and no periodic log lines (log.jsonl is still written)

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ConfigError(f"task must be one of {sorted(TASKS)}, got {self.task!r}")
        if self.tracker not in TASKS[self.task]:
            raise ConfigError(f"the {self.task} recipe trains {list(TASKS[self.task])}, not {self.tracker!r}")
        object.__setattr__(self, "data", tuple(str(d) for d in self.data))
        object.__setattr__(self, "out", Path(self.out))
        if self.init is not None:
            object.__setattr__(self, "init", Path(self.init))
        for name in ("steps", "batch_size", "log_every", "save_every", "cache_sequences", "template_size",
                     "search_size", "sample_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("lr", "corr_weight", "weight_decay", "momentum", "max_gap", "workers"):
            if getattr(self, name) < 0 or (name == "lr" and self.lr == 0):
                raise ConfigError(f"{name} must be {'> 0' if name == 'lr' else '>= 0'}, got {getattr(self, name)}")
        if self.task == "atom" and self.batch_size < 2:
            raise ConfigError(f"the atom recipe needs a batch size >= 2 per process, got {self.batch_size}: the "
                              f"IoU-Net's reference branch has BatchNorm on one value per pair and channel")
        if self.task == "siam" and (self.lr_end is None or not 0 < self.lr_end <= self.lr):
            raise ConfigError(f"lr_end must be in (0, lr = {self.lr}], got {self.lr_end}")
        if self.threads is not None and self.threads < 1:
            raise ConfigError(f"threads must be >= 1 (or not given), got {self.threads}")
        if self.clip_grad is not None and self.clip_grad <= 0:
            raise ConfigError(f"clip_grad must be > 0 (or not given), got {self.clip_grad}")
        if self.max_minutes is not None and self.max_minutes <= 0:
            raise ConfigError(f"max_minutes must be > 0, got {self.max_minutes}")
        if self.stop_at is not None and not 1 <= self.stop_at:
            raise ConfigError(f"stop_at must be >= 1, got {self.stop_at}")
        if self.augment not in AUGMENTS:
            raise ConfigError(f"augment must be one of {list(AUGMENTS)}, got {self.augment!r}")
        if self.device not in ("cpu", "cuda"):
            raise ConfigError(f"device must be 'cpu' or 'cuda', got {self.device!r}")
        if self.sample_size % 32:
            raise ConfigError(f"sample_size must be a multiple of 32 (the layer4 stride), got {self.sample_size}")
        object.__setattr__(self, "arch", dict(self.arch))
        self.model_config()  # a bad --arch fails before anything is written
        if self.resume and self.init is not None:
            raise ConfigError("--init starts a new run from a checkpoint and --resume continues OUT/last.pt; "
                              "give one of them")

    def model_config(self):
        """The architecture record of the network to train: the tracker's default with ``arch`` applied."""
        from export.models.config import config_from_dict, config_to_dict, default_config

        fixed = sorted(set(self.arch) & {"tracker", "template_size", "search_size", "sample_size"})
        if fixed:
            raise ConfigError(f"--arch cannot set {fixed}: the tracker is --tracker, and the crop sizes follow "
                              f"the training recipe (inference sizes are set at export)")
        return config_from_dict({**config_to_dict(default_config(self.tracker)), **self.arch})

    def identity(self) -> dict[str, Any]:
        """The values that must match for ``--resume`` (see ``IDENTITY``)."""
        record = dataclasses.asdict(self)
        return {name: list(record[name]) if name == "data" else record[name] for name in IDENTITY}

    def to_dict(self) -> dict[str, Any]:
        record = dataclasses.asdict(self)
        record["out"] = str(self.out)
        record["init"] = None if self.init is None else str(self.init)
        record["data"] = list(self.data)
        return record


def make_config(task: str, tracker: str, data, out, **overrides: Any) -> TrainConfig:
    """A ``TrainConfig`` with the recipe's defaults, then ``overrides`` (unknown names are refused;
    a None value keeps the default)."""
    if task not in TASKS:
        raise ConfigError(f"task must be one of {sorted(TASKS)}, got {task!r}")
    valid = {f.name for f in dataclasses.fields(TrainConfig)} - {"task", "tracker", "data", "out"}
    unknown = sorted(set(overrides) - valid)
    if unknown:
        raise ConfigError(f"unknown training option(s) {unknown}; valid options are {sorted(valid)}")
    # None stands for "the recipe's default" (how the CLI passes options that were not given)
    values = {**DEFAULTS[task], **{k: v for k, v in overrides.items() if v is not None}}
    return TrainConfig(task=task, tracker=tracker, data=tuple(data), out=Path(out), **values)
