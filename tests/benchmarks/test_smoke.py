"""Every benchmark's ``--smoke`` run, in process: it finishes, returns 0 and prints its figures.

Nobody runs the benchmarks day to day; these runs are what keep them from rotting unseen.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from benchmarks import learner_timing, real_crop_parity, tracking_backends

NUMBER = r"(\d+\.\d+(?:e[-+]\d+)?)"


def test_real_crop_parity_smoke_on_a_synthetic_sequence(tmp_path, monkeypatch, capsys):
    """No real data here (EDGE_TRACKER_DATA points at nothing): the smoke run generates frames."""
    monkeypatch.setenv("EDGE_TRACKER_DATA", str(tmp_path / "no-data"))
    assert real_crop_parity.main(["--smoke"]) == 0
    out = capsys.readouterr().out
    assert "crops from synthetic sequence synthetic_seed0, frames [0, 6]" in out
    rows = {name: (float(max_abs), float(scale), float(rel)) for name, max_abs, scale, rel in
            re.findall(rf"^  (kernel|response)\s+{NUMBER}\s+(\S+)\s+{NUMBER}\s+\S+\s+1\.0e-04  pass$", out, re.MULTILINE)}
    assert set(rows) == {"kernel", "response"}
    for max_abs, scale, rel in rows.values():
        assert 0 <= rel <= 1e-4 and scale > 0 and max_abs == pytest.approx(rel * scale, rel=0.02, abs=1e-9)
    assert out.rstrip().endswith("2 of 2 phase comparisons within tolerance")


def test_tracking_backends_smoke_on_an_existing_export(exports, capsys):
    checkpoint, onnx_dir = exports("scs-siam")
    assert tracking_backends.main(["--smoke", "--lockstep", "--checkpoint", str(checkpoint),
                                   "--onnx", str(onnx_dir)]) == 0
    out = capsys.readouterr().out
    fps = dict(re.findall(rf"^(ort|torch)\s*: +{NUMBER} FPS over 7 frames", out, re.MULTILINE))
    assert set(fps) == {"ort", "torch"} and all(float(v) > 0 for v in fps.values())
    assert len(re.findall(r"^  stage +mean +p50 +p90 +p99 +max +\(ms\)$", out, re.MULTILINE)) == 2
    network = re.findall(rf"^  network +{NUMBER} +{NUMBER} +{NUMBER} +{NUMBER} +{NUMBER}$", out, re.MULTILINE)
    assert len(network) == 2 and all(0 < float(p50) <= float(p99) for _, p50, _, p99, _ in network)
    # the same weights on both backends: the boxes agree to well under a pixel
    free = re.search(rf"free-running: max \|ort - torch\| box difference over 7 frames: {NUMBER} px", out)
    locked = re.search(rf"lockstep: .* over 7 frames: {NUMBER} px .*same state on (\d) of 7 frames", out)
    assert free and float(free.group(1)) < 0.5
    assert locked and float(locked.group(1)) < 0.5 and locked.group(2) == "7"


def test_learner_timing_smoke_on_an_existing_export(exports, tmp_path, monkeypatch, capsys):
    """Both learners, updates whole and spread, on a generated clip; the lockstep on generated frames."""
    monkeypatch.setenv("EDGE_TRACKER_DATA", str(tmp_path / "no-data"))
    _, onnx_dir = exports("aff-atom")
    out_json = tmp_path / "learning.json"
    assert learner_timing.main(["--smoke", "--model", str(onnx_dir), "--lockstep", "--json", str(out_json)]) == 0
    out = capsys.readouterr().out
    rows = re.findall(rf"^  (numpy|graph) +(0|5) +{NUMBER} s +(\d+) +{NUMBER} ms +{NUMBER} ms +{NUMBER} ms"
                      rf" +{NUMBER} +{NUMBER} +{NUMBER} +{NUMBER} +{NUMBER}$", out, re.MULTILINE)
    assert sorted((learner, spread) for learner, spread, *_ in rows) == [
        ("graph", "0"), ("graph", "5"), ("numpy", "0"), ("numpy", "5")]
    for _, _, first, updates, per_call, worst, per_frame, p50, p99, ratio, peak, fps in rows:
        assert float(first) > 0 and int(updates) >= 2 and float(per_call) > 0 and float(fps) > 0
        assert 0 < float(p50) <= float(p99) <= float(peak) and float(ratio) >= 1
    graphs = dict(re.findall(rf"^  (classifier_\w+) +{NUMBER} GFLOPs", out, re.MULTILINE))
    assert set(graphs) == {"classifier_init", "classifier_update", "classifier_linearize", "classifier_cg_step"}
    assert all(float(v) > 0.01 for v in graphs.values())
    # seeded random weights: figures, not accuracy (tests/edge_tracker/test_graph_learner.py checks that)
    locked = re.findall(rf"(shared first frame|own first frames) *: max {NUMBER} px.* over 23 frames", out)
    assert len(locked) == 2 and all(np.isfinite(float(px)) for _, px in locked)
    figures = json.loads(out_json.read_text())
    assert len(figures["runs"]) == 4 and set(figures["lockstep"]) == {"shared first frame", "own first frames"}


def test_a_full_run_without_data_says_where_it_looked(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("EDGE_TRACKER_DATA", str(tmp_path / "no-data"))
    assert tracking_backends.main([]) == 2
    assert real_crop_parity.main([]) == 2
    err = capsys.readouterr().err
    assert err.count(f"no tracking data at {tmp_path / 'no-data' / 'sequences/otb/Crossing'}") == 2
    assert "run with --smoke" in err


def test_bad_arguments_exit_non_zero(capsys):
    with pytest.raises(SystemExit) as exit_info:
        tracking_backends.main(["--onnx", "somewhere"])
    assert exit_info.value.code == 2
    with pytest.raises(SystemExit) as exit_info:
        real_crop_parity.main(["--checkpoint", "net.safetensors"])  # every tracker, one checkpoint
    assert exit_info.value.code == 2
    assert "--checkpoint and --onnx hold one tracker" in capsys.readouterr().err


def test_soak_smoke_samples_memory_and_descriptors(exports, capsys):
    """The soak benchmark's live-source loop on an existing export: 40 frames, start/end/max of RSS and FDs."""
    from benchmarks import soak

    _, onnx_dir = exports("scs-siam")
    assert soak.main(["--smoke", "--model", str(onnx_dir), "--camera-fps", "60"]) == 0
    out = capsys.readouterr().out
    row = re.search(rf"^scs-siam +40 +{NUMBER} +(\d+) +{NUMBER} / +{NUMBER} / +{NUMBER} \(([-+]\d+\.\d)\) +"
                    r"(\d+) / +(\d+) / +(\d+) +pass$", out, re.MULTILINE)
    assert row, out
    _, dropped, start, end, peak, growth, fd_start, fd_end, fd_peak = row.groups()
    assert 0 < float(start) <= float(peak) and float(end) <= float(peak)
    assert float(growth) < 5.0 and int(fd_end) <= int(fd_start) <= int(fd_peak)
    assert int(dropped) >= 0


def test_target_loss_smoke_on_an_existing_export(exports, capsys):
    """One generated leave-and-return clip, three variants; seeded random weights: figures, not accuracy."""
    from benchmarks import target_loss

    _, onnx_dir = exports("scs-siam")
    assert target_loss.main(["--smoke", "--tracker", "scs-siam", "--model", str(onnx_dir)]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^machine: .+; ONNX Runtime on the CPU$", out, re.MULTILINE)
    assert re.search(r"^clips: 1 x 30 frames, target absent over frames \d+-\d+$", out, re.MULTILINE)
    rows = re.findall(r"^scs-siam +(off|hold|redetect) +([01])/1 +(\S+) +(\S+) +([01])/1 +(\S+) +"
                      rf"{NUMBER} +{NUMBER}$", out, re.MULTILINE)
    assert [row[0] for row in rows] == ["off", "hold", "redetect"], out
    assert rows[0][1:4] == ("0", "-", "-")  # off: the behaviour before issue 16 never reports a loss
    for _, reported, report, visible, _, _, auc, fps in rows:
        assert 0.0 <= float(auc) <= 1.0 and float(fps) > 0
        assert (report == "-") == (reported == "0") and (visible == "-" or 0.0 <= float(visible) <= 1.0)


def test_opencv_calls_smoke_against_its_own_recording_finds_no_difference(tmp_path, monkeypatch, capsys):
    from benchmarks import opencv_calls

    monkeypatch.setenv("EDGE_TRACKER_DATA", str(tmp_path / "no-data"))
    saved = tmp_path / "calls.npz"
    assert opencv_calls.main(["--smoke", "--save", str(saved)]) == 0
    assert opencv_calls.main(["--smoke", "--against", str(saved)]) == 0
    out = capsys.readouterr().out
    rows = re.findall(rf"^  (\S.*?)\s+{NUMBER}\s+{NUMBER}%$|^  (\S.*?)\s+0\s+0\.00%$", out, re.MULTILINE)
    assert len(rows) == 10, out  # every call but the video, which a smoke run leaves out
    assert all(not max_abs or float(max_abs) == 0.0 for _, max_abs, _, _ in rows)
    assert "crop/aff-atom search 288" in out and "synthetic clip seed 7" in out
