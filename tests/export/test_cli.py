"""`python -m export onnx` as a user runs it: exit codes, messages, nothing half-written."""

import json
import logging
import subprocess
import sys

import pytest
import torch

from export.checkpoint import save_checkpoint
from export.cli import main
from export.models import build_model, default_config
from tests.conftest import REPO_ROOT


def test_random_weights_export_warns_loudly_and_says_so_in_the_manifest(tmp_path, caplog, capsys):
    with caplog.at_level(logging.WARNING, logger="edge_tracker"):
        assert main(["onnx", "--tracker", "ssa-siam", "--out", str(tmp_path)]) == 0
    assert "RANDOMLY INITIALISED" in caplog.text
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["source"] == {"weights": "random", "seed": 0}
    assert sorted(p.name for p in tmp_path.glob("*.onnx")) == ["search.onnx", "template.onnx"]
    printed = capsys.readouterr().out
    assert "ssa-siam: 2 phases" in printed and "weights: random" in printed


def test_missing_checkpoint_exits_2_with_the_path(tmp_path, caplog):
    missing = tmp_path / "none.safetensors"
    assert main(["onnx", "--tracker", "scs-siam", "--checkpoint", str(missing), "--out", str(tmp_path / "o")]) == 2
    assert str(missing) in caplog.text and "not found" in caplog.text
    assert not (tmp_path / "o" / "manifest.json").exists()


def test_checkpoint_of_another_tracker_exits_2_and_names_both(tmp_path, caplog):
    torch.manual_seed(0)
    path = save_checkpoint(tmp_path / "siam.safetensors", build_model(default_config("sca-siam")),
                           default_config("sca-siam"))
    assert main(["onnx", "--tracker", "scs-siam", "--checkpoint", str(path), "--out", str(tmp_path / "o")]) == 2
    assert "'sca-siam'" in caplog.text and "--tracker sca-siam" in caplog.text


def test_unwritable_output_folder_exits_2(tmp_path, caplog):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert main(["onnx", "--tracker", "scs-siam", "--out", str(blocker / "sub")]) == 2
    assert "cannot write to output folder" in caplog.text


def test_bad_arguments_exit_non_zero_from_the_shell():
    result = subprocess.run([sys.executable, "-m", "export", "onnx", "--tracker", "siamfc", "--out", "x"],
                            cwd=REPO_ROOT, capture_output=True, text=True)
    assert result.returncode == 2
    assert "invalid choice: 'siamfc'" in result.stderr and "aff-atom" in result.stderr
