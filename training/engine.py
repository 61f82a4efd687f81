"""The training loop both recipes share: devices, DistributedDataParallel, checkpoints, logs, stops.

``train(config)`` runs one training session. Under ``torchrun`` (``WORLD_SIZE`` > 1 in the
environment) every process trains on its own shard of the sample stream (``training.data``) with
DistributedDataParallel over NCCL (``--device cuda``, GPU ``LOCAL_RANK``) or Gloo (CPU); BatchNorm
statistics stay per process. Only rank 0 writes files.

Files in ``OUT``:

- ``last.pt``: everything a resumed session needs (objective and optimiser state, scheduler, step,
  RNG states, the run's options), written every ``save_every`` steps and when the session stops;
  read back with ``torch.load(weights_only=True)``, so loading it cannot run code.
- ``<tracker>.safetensors`` and ``<tracker>.fp16.safetensors``: the network's weights at the last
  step in the edge_tracker checkpoint format (``export.checkpoint``), written when the session stops.
- ``log.jsonl``: one line per ``log_every`` steps: ``step``, the interval's mean losses, ``lr``,
  ``samples_per_s`` (all processes), ``elapsed_s`` (wall time of all sessions of the run).
- ``run.json``: the options and the environment of the latest session.

A session stops after ``steps`` (the run's end), after ``stop_at``, when ``max_minutes`` have passed,
or on SIGINT/SIGTERM (Ctrl-C; torchrun forwards a stop as SIGTERM): the current step is finished and
everything saved. A second Ctrl-C quits at once without saving.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from edge_tracker.errors import ConfigError, InputError
from export.checkpoint import load_state_strict, read_checkpoint, save_checkpoint
from export.models import build_model
from export.models.config import config_from_dict, config_to_dict
from training import atom, siam
from training.config import LEGACY_IDENTITY, TrainConfig
from training.data import PairDataset, describe_sources, make_loader, parse_sources, to_device
from training.run_state import (  # noqa: F401 - load_training_state is part of this module's API
    STATE_FORMAT,
    STATE_VERSION,
    _Meter,
    _StopRequests,
    get_rng_state,
    load_training_state,
    set_rng_state,
)

logger = logging.getLogger("edge_tracker.training")

RECIPES: dict[str, ModuleType] = {"siam": siam, "atom": atom}


@dataclass(frozen=True)
class Processes:
    """Where this process stands in a (possibly distributed) run."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def main(self) -> bool:
        return self.rank == 0


@dataclass(frozen=True)
class RunResult:
    """How a session ended."""

    step: int  # optimiser steps done in the run so far
    stopped_by: str  # "done" (all steps), "stop_at", "time", "signal"
    out: Path
    checkpoint: Path | None  # the exported .safetensors (rank 0), None on other ranks
    network: nn.Module | None = None  # the trained network (this process's copy, on its device)


def train(config: TrainConfig) -> RunResult:
    """Run (or continue) the training described by ``config``; see the module docstring."""
    procs = setup_processes(config.device)
    threads = torch.get_num_threads()
    try:
        return _Session(config, procs).run()
    finally:
        torch.set_num_threads(threads)  # --threads applies to this run only (matters to in-process callers)
        if procs.distributed and dist.is_initialized():
            dist.destroy_process_group()


def setup_processes(device: str) -> Processes:
    """Read torchrun's environment, pick the device, join the process group if there are several."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device == "cuda":
        if not torch.cuda.is_available():
            raise InputError("--device cuda was asked for, but CUDA is not available (this torch is built "
                             f"{'without CUDA' if torch.version.cuda is None else 'with CUDA ' + torch.version.cuda}"
                             ", or no GPU is visible); use --device cpu, or install a CUDA build of torch")
        if local_rank >= torch.cuda.device_count():
            raise InputError(f"LOCAL_RANK {local_rank} but only {torch.cuda.device_count()} GPU(s) are visible; "
                             f"start at most that many processes per node")
        torch_device = torch.device("cuda", local_rank)
        torch.cuda.set_device(torch_device)
        torch.backends.cudnn.benchmark = True  # fixed input sizes: let cuDNN pick the fastest kernels
    elif device == "cpu":
        torch_device = torch.device("cpu")
    else:
        raise ConfigError(f"device must be 'cpu' or 'cuda', got {device!r}")
    if world_size > 1:
        if not dist.is_available():
            raise InputError("WORLD_SIZE > 1 but this torch has no torch.distributed support")
        if device == "cuda":
            dist.init_process_group(backend="nccl", device_id=torch_device)
        else:
            dist.init_process_group(backend="gloo")
    return Processes(rank, world_size, local_rank, torch_device)


class _Session:
    """One training session: built from the config, then ``run()`` once."""

    def __init__(self, config: TrainConfig, procs: Processes) -> None:
        self.config, self.procs = config, procs
        self.recipe = RECIPES[config.task]
        self.out = Path(config.out)
        self.last = self.out / "last.pt"
        self.sources = parse_sources(config.data, config.cache_sequences)  # bad --data fails first
        if procs.main:
            prepare_out_dir(self.out)
        state = self._state_to_resume()
        if config.threads is not None:
            torch.set_num_threads(config.threads)

        torch.manual_seed(config.seed)  # same initial weights on every rank (DDP also broadcasts rank 0's)
        model_config = config.model_config()
        if state is not None and "model_config" in state:
            # the architecture the run trains, which --init may have set (a resumed run has no --init)
            model_config = config_from_dict(state["model_config"])
        checkpoint = None
        if config.init is not None:
            checkpoint = read_checkpoint(config.init, expect_tracker=config.tracker)
            if config.arch and checkpoint.config != model_config:
                raise InputError(f"--arch {config.arch} does not match the architecture of --init {config.init} "
                                 f"({checkpoint.config}); leave --arch out to continue from that checkpoint")
            model_config = checkpoint.config
        self.net = build_model(model_config)
        if checkpoint is not None:
            load_state_strict(self.net, checkpoint.state_dict, source=str(config.init))
        self.objective = self.recipe.build_objective(self.net, config).to(procs.device).train()
        self.optimizer, self.scheduler = self.recipe.build_optimizer(self.objective, config)
        self.params = [p for p in self.objective.parameters() if p.requires_grad]
        self.step, self.elapsed_before = 0, 0.0
        if state is not None:
            self.objective.load_state_dict(state["objective"])
            self.optimizer.load_state_dict(state["optimizer"])
            self.scheduler.load_state_dict(state["scheduler"])
            self.step, self.elapsed_before = int(state["step"]), float(state["elapsed_s"])
            set_rng_state(state["rng"])
            if int(state["world_size"]) != procs.world_size:
                logger.warning("last.pt was written by a run of %s process(es), this one has %s: the sample "
                               "stream continues differently", state["world_size"], procs.world_size)
        self.model: nn.Module = self.objective
        if procs.distributed:
            self.model = nn.parallel.DistributedDataParallel(
                self.objective, device_ids=[procs.local_rank] if procs.device.type == "cuda" else None)
        self.dataset = PairDataset(self.sources, self.recipe.sample_maker(config), config.max_gap, config.seed)

    def _state_to_resume(self) -> dict[str, Any] | None:
        config = self.config
        if not config.resume:
            if self.last.exists():
                raise InputError(f"{self.out} already holds a training run ({self.last}); pass --resume to "
                                 f"continue it, or choose another --out")
            return None
        if not self.last.is_file():
            raise InputError(f"--resume: there is no {self.last} to continue; start without --resume")
        state = load_training_state(self.last)
        saved = state["identity"]
        saved = {**LEGACY_IDENTITY, **saved}
        differing = {name: (saved.get(name), value) for name, value in config.identity().items()
                     if saved.get(name) != value}
        if differing:
            shown = "; ".join(f"{name}: run {old!r}, now {new!r}" for name, (old, new) in differing.items())
            raise InputError(f"--resume: options differ from the run in {self.out} ({shown}); pass the run's "
                             f"values (see {self.out / 'run.json'}) or start a new run in another --out")
        return state

    # -- the loop ---------------------------------------------------------------------------------

    def run(self) -> RunResult:
        config, procs = self.config, self.procs
        stop_step = min(config.steps, config.stop_at) if config.stop_at is not None else config.steps
        if procs.main:
            self._write_run_record()
        if self.step >= stop_step:
            logger.info("step %d already reached (of %d): nothing to train", self.step, config.steps)
            return self._finish("done" if self.step >= config.steps else "stop_at")
        logger.info("%s: training %s from step %d to %d on %s x %d, %s", config.task, config.tracker, self.step,
                    stop_step, procs.device, procs.world_size, ", ".join(describe_sources(self.sources)))
        started = time.monotonic()
        meter = _Meter()
        stopped_by = "stop_at" if stop_step < config.steps else "done"
        bar = _progress(config, procs, self.step, stop_step)
        with _StopRequests() as stop_requests:
            loader = make_loader(self.dataset, config.batch_size, self.step, stop_step, procs.rank,
                                 procs.world_size, config.workers, pin_memory=procs.device.type == "cuda")
            for batch in loader:
                lr = self.optimizer.param_groups[0]["lr"]
                losses = self._train_step(to_device(batch, procs.device))
                self.step += 1
                meter.add(losses, lr)
                if bar is not None:
                    bar.update(1)
                if self.step % config.log_every == 0 or self.step == stop_step:
                    self._log(meter, started, bar)
                reason = self._stop_reason(stop_requests, started)
                if reason is None and self.step % config.save_every == 0 and self.step < stop_step:
                    self._save_state(started)
                if reason is not None and self.step < stop_step:
                    if meter.steps:
                        self._log(meter, started, bar)
                    stopped_by = reason
                    break
        if bar is not None:
            bar.close()
        return self._finish(stopped_by, started)

    def _train_step(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        losses = self.model(batch)
        self.optimizer.zero_grad(set_to_none=True)
        losses["loss"].backward()
        if self.config.clip_grad is not None:
            norm = torch.nn.utils.clip_grad_norm_(self.params, self.config.clip_grad)
            losses = {**losses, "grad_norm": norm.detach()}
        self.optimizer.step()
        self.scheduler.step()
        return {name: value.detach() for name, value in losses.items()}

    def _stop_reason(self, stop_requests: _StopRequests, started: float) -> str | None:
        signalled = stop_requests.requested is not None
        out_of_time = (self.config.max_minutes is not None
                       and time.monotonic() - started >= 60.0 * self.config.max_minutes)
        code = 2 if signalled else 1 if out_of_time else 0
        if self.procs.distributed:
            # every process must stop after the same step, or the others wait forever in all-reduce
            flag = torch.tensor([code], device=self.procs.device)
            dist.all_reduce(flag, op=dist.ReduceOp.MAX)
            code = int(flag.item())
        return {0: None, 1: "time", 2: "signal"}[code]

    def _log(self, meter: _Meter, started: float, bar) -> None:
        means, steps, lr = meter.take(self.procs)
        if self.procs.main and steps:
            now = time.monotonic()
            interval = max(now - meter.since, 1e-9)
            meter.since = now
            line = {"step": self.step, **{k: round(v, 6) for k, v in means.items()}, "lr": lr,
                    "samples_per_s": round(steps * self.config.batch_size * self.procs.world_size / interval, 3),
                    "elapsed_s": round(self.elapsed_before + now - started, 3)}
            with open(self.out / "log.jsonl", "a", encoding="utf-8") as handle:
                handle.write(json.dumps(line) + "\n")
            text = " ".join(f"{k} {v:.4f}" for k, v in means.items())
            if bar is not None:
                bar.set_postfix_str(f"{text} lr {lr:.2e}")
            elif not self.config.quiet:
                logger.info("step %d/%d %s lr %.2e %.1f samples/s", self.step, self.config.steps, text, lr,
                            line["samples_per_s"])
        else:
            meter.since = time.monotonic()

    # -- files ------------------------------------------------------------------------------------

    def _finish(self, stopped_by: str, started: float | None = None) -> RunResult:
        checkpoint = None
        if self.procs.main:
            self._save_state(started)
            checkpoint = self._export(stopped_by)
            logger.info("stopped (%s) at step %d of %d: %s, %s", stopped_by, self.step, self.config.steps,
                        self.last, checkpoint)
        return RunResult(self.step, stopped_by, self.out, checkpoint, self.net)

    def _save_state(self, started: float | None) -> None:
        if not self.procs.main:
            return
        elapsed = self.elapsed_before + (time.monotonic() - started if started is not None else 0.0)
        state = {
            "format": STATE_FORMAT,
            "version": STATE_VERSION,
            "step": self.step,
            "elapsed_s": elapsed,
            "world_size": self.procs.world_size,
            "identity": self.config.identity(),
            "objective": self.objective.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "rng": get_rng_state(),
            "model_config": config_to_dict(self.net.config),
        }
        tmp = self.last.with_name(self.last.name + ".partial")
        torch.save(state, tmp)
        os.replace(tmp, self.last)

    def _export(self, stopped_by: str) -> Path:
        meta = {
            "trained_by": f"python -m training {self.config.task}",
            "steps": self.step,
            "planned_steps": self.config.steps,
            "complete": self.step >= self.config.steps,
            "stopped_by": stopped_by,
            "data": describe_sources(self.sources),
            "seed": self.config.seed,
            "batch_size": self.config.batch_size,
            "processes": self.procs.world_size,
        }
        path = self.out / f"{self.config.tracker}.safetensors"
        save_checkpoint(path, self.net, self.net.config, meta=meta)
        save_checkpoint(self.out / f"{self.config.tracker}.fp16.safetensors", self.net, self.net.config,
                        meta={**meta, "dtype": "float16"}, half=True)
        return path

    def _write_run_record(self) -> None:
        record = {
            "options": self.config.to_dict(),
            "data": describe_sources(self.sources),
            "processes": self.procs.world_size,
            "device": str(self.procs.device),
            "torch": torch.__version__,
            "python": platform.python_version(),
            "machine": {"processor": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(),
                        "platform": platform.platform(),
                        "gpu": torch.cuda.get_device_name(self.procs.device)
                        if self.procs.device.type == "cuda" else None},
            "start_step": self.step,
        }
        (self.out / "run.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")


def prepare_out_dir(out: Path) -> None:
    """Create ``out`` and check that files can be written into it; InputError otherwise."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out} exists and is not a folder; choose a folder path")
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".write_test.{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        raise InputError(f"cannot write into --out {out}: {err.strerror or err}; choose a writable folder") from None


def _progress(config: TrainConfig, procs: Processes, start: int, stop: int):
    """A tqdm bar on rank 0 when stderr is a terminal and not -q; else None (log lines instead)."""
    if config.quiet or not procs.main or not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    return tqdm(total=stop, initial=start, desc=config.tracker, unit="step", dynamic_ncols=True)
