"""The model card is rendered from the run's and the evaluation's records, never typed by hand."""

from __future__ import annotations

import json

from edge_tracker.manifest import sha256_file
from training.cli import main as train_main
from training.model_card import main as card_main


def _summary(tracker, auc, p20, fps):
    return {"tracker": tracker, "auc": auc, "precision20": p20, "mean_iou": auc + 0.01, "fps": fps}


def test_card_carries_the_runs_and_the_evaluations_numbers(tmp_path, capsys):
    run = tmp_path / "run"
    assert train_main(["siam", "--tracker", "scs-siam", "--data", "synthetic:1", "--out", str(run), "--steps", "2",
                       "--batch-size", "2", "--threads", "1", "--log-every", "1", "-q"]) == 0
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    evaluation = {
        "environment": {"processor": "TestCPU", "cpu_count": 2, "opencv": "5.0.0", "python": "3.11"},
        "summaries": [_summary("scs-siam", 0.4321, 0.6543, 3.2), _summary("opencv-csrt", 0.5432, 0.8012, 20.3)],
        "results": [{"tracker": t, "name": n, "frames": f, "auc": a}
                    for t, n, f, a in (("scs-siam", "Crossing", 120, 0.61), ("opencv-csrt", "Crossing", 120, 0.70),
                                       ("scs-siam", "bag", 196, 0.25), ("opencv-csrt", "bag", 196, 0.29))],
    }
    (tmp_path / "eval.json").write_text(json.dumps(evaluation))
    checkpoint = run / "scs-siam.fp16.safetensors"
    out = tmp_path / "card.md"
    assert card_main(["--checkpoint", str(checkpoint), "--run", str(run), "--eval", str(tmp_path / "eval.json"),
                      "--label", "scs-siam", "--train-command", "python -m training siam ...",
                      "--eval-command", "edge-tracker eval ...", "--out", str(out)]) == 0
    card = out.read_text()
    assert sha256_file(checkpoint) in card
    assert "| **scs-siam** (this checkpoint) | 0.432 | 0.654 | 0.442 | 3.2 |" in card
    assert "| opencv-csrt | 0.543 | 0.801 | 0.553 | 20.3 |" in card
    assert "| Crossing | 120 | 0.610 | 0.700 |" in card and "| bag | 196 | 0.250 | 0.290 |" in card
    assert f"loss {log[0]['loss']:.3f} -> {log[-1]['loss']:.3f}" in card
    assert "**Steps**: 2 of 2 planned" in card and "4 pairs in all" in card
    assert "Sequences: Crossing, bag." in card
    machine = json.loads((run / "run.json").read_text())["machine"]
    assert f"on cpu ({machine['processor']}, {machine['cpu_count']} CPUs)" in card
    # a label the evaluation does not hold is refused, nothing written
    assert card_main(["--checkpoint", str(checkpoint), "--run", str(run), "--eval", str(tmp_path / "eval.json"),
                      "--label", "aff-atom", "--train-command", "x", "--eval-command", "y",
                      "--out", str(tmp_path / "no.md")]) == 2
    assert "no tracker labelled 'aff-atom'" in capsys.readouterr().err and not (tmp_path / "no.md").exists()
    # the same checkpoint measured again after its training folder is gone: the earlier card's Training
    # section is kept, and the new evaluation's numbers replace the old
    evaluation["summaries"][0] = _summary("scs-siam", 0.5561, 0.7779, 2.0)
    (tmp_path / "eval2.json").write_text(json.dumps(evaluation))
    again = tmp_path / "again.md"
    assert card_main(["--checkpoint", str(checkpoint), "--previous-card", str(out), "--eval",
                      str(tmp_path / "eval2.json"), "--label", "scs-siam", "--eval-command", "edge-tracker eval 2",
                      "--out", str(again)]) == 0
    text = again.read_text()
    training = card[card.index("## Training"):card.index("## Accuracy")]
    assert training in text and "| **scs-siam** (this checkpoint) | 0.556 | 0.778 |" in text
    assert "0.432" not in text and "`edge-tracker eval 2`" in text
    # a run started from that checkpoint (--init): its own Training section, then the earlier one
    run2 = tmp_path / "run2"
    assert train_main(["siam", "--tracker", "scs-siam", "--data", "synthetic:1", "--out", str(run2), "--steps", "1",
                       "--batch-size", "2", "--threads", "1", "--log-every", "1", "-q", "--init", str(checkpoint)]) == 0
    tuned = run2 / "scs-siam.fp16.safetensors"
    (tmp_path / "eval2.json").write_text(json.dumps(evaluation))
    card2 = tmp_path / "card2.md"
    assert card_main(["--checkpoint", str(tuned), "--run", str(run2), "--previous-card", str(out), "--eval",
                      str(tmp_path / "eval2.json"), "--label", "scs-siam", "--train-command", "python -m training 2",
                      "--eval-command", "y", "--out", str(card2)]) == 0
    text = card2.read_text()
    assert "`python -m training 2`" in text and "**Steps**: 1 of 1 planned" in text
    assert f"(sha256 `{sha256_file(checkpoint)}`), which was trained as follows:" in text
    assert text.index("`python -m training 2`") < text.index("`python -m training siam ...`") < text.index("## Accuracy")
    # an earlier card of another checkpoint cannot stand in for this one's training
    assert card_main(["--checkpoint", str(tuned), "--previous-card", str(out), "--eval", str(tmp_path / "eval2.json"),
                      "--label", "scs-siam", "--eval-command", "y", "--out", str(tmp_path / "no.md")]) == 2
    assert "describes another checkpoint" in capsys.readouterr().err and not (tmp_path / "no.md").exists()
