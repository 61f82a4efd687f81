"""A run started from a checkpoint (--init, no --arch) resumes with that checkpoint's architecture
(before, --resume built the recipe's default network and failed on the weights' shapes)."""

from __future__ import annotations

import json

import torch

from export.checkpoint import read_checkpoint
from tests.training.test_engine import SMALL_SIAM, one_thread  # noqa: F401 - the fixture
from training.config import make_config
from training.engine import train
from training.run_state import load_training_state


def test_a_run_started_from_init_resumes_without_it(one_thread, tmp_path):  # noqa: F811
    options = {"batch_size": 1, "log_every": 1, "quiet": True, **SMALL_SIAM}
    base = train(make_config("siam", "scs-siam", ["synthetic:1"], tmp_path / "base", steps=1,
                             arch={"channel_reduction": 8}, **options))
    narrow = read_checkpoint(base.checkpoint).config
    assert narrow.channel_reduction == 8  # not the default 16: other weight shapes
    first = train(make_config("siam", "scs-siam", ["synthetic:1"], tmp_path / "run", steps=4, stop_at=2,
                              init=base.checkpoint, **options))
    assert (first.step, first.stopped_by) == (2, "stop_at")
    second = train(make_config("siam", "scs-siam", ["synthetic:1"], tmp_path / "run", steps=4, resume=True,
                               **options))
    assert (second.step, second.stopped_by) == (4, "done")
    assert read_checkpoint(tmp_path / "run" / "scs-siam.safetensors").config == narrow
    state = load_training_state(tmp_path / "run" / "last.pt")
    assert state["model_config"]["channel_reduction"] == 8
    steps = [json.loads(line)["step"] for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4]
    assert all(torch.isfinite(t).all() for t in state["objective"].values() if t.is_floating_point())
