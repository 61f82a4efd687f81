"""training.refine_sweep: checkpoint variants with other refinement settings, and its refusals."""

from __future__ import annotations

import pytest
import torch

from edge_tracker.demo import demo_checkpoint
from edge_tracker.errors import InputError
from export.checkpoint import read_checkpoint
from training.refine_sweep import main, sweep, variant


def test_variant_changes_only_the_refinement_fields(tmp_path):
    source = read_checkpoint(demo_checkpoint("aff-atom"))
    copy = read_checkpoint(variant(demo_checkpoint("aff-atom"), tmp_path / "v.safetensors", 3, 20, True, 0.3))
    assert (copy.config.refine_iterations, copy.config.num_proposals) == (3, 20)
    assert copy.meta["tracking_params"]["refine"] is True
    assert copy.meta["tracking_params"]["refine_size_rate"] == 0.3
    off = read_checkpoint(variant(tmp_path / "v.safetensors", tmp_path / "off.safetensors", 0, 10, False))
    assert off.meta["tracking_params"]["refine"] is False and "refine_size_rate" not in off.meta["tracking_params"]
    assert set(copy.state_dict) == set(source.state_dict)
    assert all(torch.equal(copy.state_dict[k], source.state_dict[k]) for k in source.state_dict)
    assert all(t.dtype == torch.float16 for t in copy.state_dict.values() if t.is_floating_point())


def test_sweep_refuses_evaluation_sequences(tmp_path):
    folder = tmp_path / "otb" / "Jogging1"
    folder.mkdir(parents=True)
    with pytest.raises(InputError, match="evaluation-split sequence 'otb/Jogging1'"):
        sweep(demo_checkpoint("aff-atom"), [1], [5], 10, [folder])


def test_cli_rejects_bad_lists(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([str(demo_checkpoint("aff-atom")), "--iterations", "1,x"])
    assert exit_info.value.code == 2 and "comma-separated integers" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main([str(demo_checkpoint("aff-atom")), "--size-rates", "0.3,0"])
    assert exit_info.value.code == 2 and "size rates must be in (0, 1]" in capsys.readouterr().err


def test_iou_probe_separates_the_shipped_iou_net_from_random_weights(tmp_path):
    from export.checkpoint import save_checkpoint
    from export.models import build_model
    from training.iou_probe import iou_scores, probe_batch

    batch = probe_batch(["synthetic:2"], 6, 12345, "basic")
    assert batch["proposals"].shape == (6, 16, 4)
    shipped = iou_scores(demo_checkpoint("aff-atom"), batch)
    torch.manual_seed(0)
    config = read_checkpoint(demo_checkpoint("aff-atom")).config
    random_path = save_checkpoint(tmp_path / "random.safetensors", build_model(config), config)
    random = iou_scores(random_path, batch)
    assert shipped["r"] > 0.4 and random["r"] < 0.3, (shipped, random)
    assert shipped["mse"] < random["mse"]
