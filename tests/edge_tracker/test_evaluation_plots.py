"""Evaluation extras: LaSOT's normalised precision by hand, OTB-style plots, our trackers by backend."""

from __future__ import annotations

import numpy as np
import pytest

from edge_tracker.datasets.synthetic import SyntheticConfig, generate_sequence
from edge_tracker.evaluation.cli import main
from edge_tracker.evaluation.metrics import (
    NORM_PRECISION_THRESHOLDS,
    SequenceResult,
    aggregate,
    normalized_center_error,
    normalized_precision_curve,
)


def test_normalised_precision_on_hand_computed_boxes():
    truth = np.array([[0, 0, 10, 20], [0, 0, 10, 20], [0, 0, 10, 20], [0, 0, 10, 20]], float)
    # centre offsets (1, 0) -> 0.1; (0, 4) -> 0.2; (3, 8) -> hypot(0.3, 0.4) = 0.5; a failed box -> inf
    predictions = np.array([[1, 0, 10, 20], [0, 4, 10, 20], [3, 8, 10, 20], [0, 0, 0, 0]], float)
    errors = normalized_center_error(predictions, truth)
    np.testing.assert_allclose(errors[:3], [0.1, 0.2, 0.5])
    assert errors[3] == np.inf
    curve = normalized_precision_curve(errors)
    assert curve.shape == NORM_PRECISION_THRESHOLDS.shape
    assert curve[0] == 0 and curve[10] == 0.25 and curve[20] == 0.5 and curve[50] == 0.75  # 0, 0.1, 0.2, 0.5
    result = SequenceResult.from_boxes("s", predictions, truth, tracker="t")
    assert result.norm_precision == pytest.approx(np.mean(curve))
    assert aggregate([result]).norm_precision == pytest.approx(result.norm_precision)


@pytest.fixture(scope="module")
def sequence_folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("eval-plots")
    return generate_sequence(9, SyntheticConfig(num_frames=8)).write(root / "seq")


def test_eval_writes_success_and_precision_plots(exports, sequence_folder, tmp_path, capsys):
    _, onnx_dir = exports("scs-siam")
    plots = tmp_path / "plots"
    code = main([str(sequence_folder), "--ours", f"ours={onnx_dir}", "--peers", "mil", "--plots", str(plots),
                 "--markdown", str(tmp_path / "eval.md"), "-q"])
    assert code == 0
    for name in ("success.png", "precision.png"):
        data = (plots / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
    table = (tmp_path / "eval.md").read_text()
    assert "norm. precision" in table and "| ours |" in table


def test_eval_labels_our_trackers_by_backend_and_refuses_unknown_ones(exports, sequence_folder, tmp_path, capsys):
    checkpoint, onnx_dir = exports("scs-siam")
    assert main([str(sequence_folder), "--ours", f"ours={onnx_dir}", "--backend", "tensorflow"]) == 2
    assert "unknown ['tensorflow']" in capsys.readouterr().err
    (tmp_path / "file").write_text("")
    assert main([str(sequence_folder), "--ours", f"ours={onnx_dir}", "--plots", str(tmp_path / "file"), "-q"]) == 2
    assert "is a file" in capsys.readouterr().err
