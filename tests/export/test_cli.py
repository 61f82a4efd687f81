"""`python -m export onnx` as a user runs it: exit codes, messages, nothing half-written."""

import json
import subprocess
import sys

import pytest
import torch

from export.checkpoint import save_checkpoint
from export.cli import main
from export.models import build_model, default_config
from tests.conftest import REPO_ROOT


def test_random_weights_export_warns_loudly_and_says_so_in_the_manifest(tmp_path, capsys):
    assert main(["onnx", "--tracker", "ssa-siam", "--out", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    assert "RANDOMLY INITIALISED" in captured.err
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["source"] == {"weights": "random", "seed": 0}
    assert sorted(p.name for p in tmp_path.glob("*.onnx")) == ["search.onnx", "template.onnx"]
    assert "ssa-siam: 2 phases" in captured.out and "weights: random" in captured.out


def test_missing_checkpoint_exits_2_with_the_path(tmp_path, capsys):
    missing = tmp_path / "none.safetensors"
    assert main(["onnx", "--tracker", "scs-siam", "--checkpoint", str(missing), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert str(missing) in err and "not found" in err
    assert not (tmp_path / "o" / "manifest.json").exists()


def test_checkpoint_of_another_tracker_exits_2_and_names_both(tmp_path, capsys):
    torch.manual_seed(0)
    path = save_checkpoint(tmp_path / "siam.safetensors", build_model(default_config("sca-siam")),
                           default_config("sca-siam"))
    assert main(["onnx", "--tracker", "scs-siam", "--checkpoint", str(path), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "'sca-siam'" in err and "--tracker sca-siam" in err


def test_unwritable_output_folder_exits_2(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert main(["onnx", "--tracker", "scs-siam", "--out", str(blocker / "sub")]) == 2
    assert "cannot write to output folder" in capsys.readouterr().err


def test_bad_arguments_exit_non_zero_from_the_shell():
    result = subprocess.run([sys.executable, "-m", "export", "onnx", "--tracker", "siamfc", "--out", "x"],
                            cwd=REPO_ROOT, capture_output=True, text=True)
    assert result.returncode == 2
    assert "invalid choice: 'siamfc'" in result.stderr and "aff-atom" in result.stderr
