"""The training / evaluation split (training/splits.toml) and training's refusal of evaluation data."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge_tracker.errors import InputError
from tests.conftest import REPO_ROOT
from training.data import parse_sources
from training.splits import check_training_data, expand_split_sources, load_split

SEQUENCES = REPO_ROOT.parent / "shared" / "data" / "sequences"
FIRST_DEMOS_TRAINED_ON = ("otb/Car1", "otb/David", "uav/UAV123_10fps_building5", "uav/UAV123_10fps_wakeboard7")


def _sequence_folders(root: Path) -> set[str]:
    """Every annotated sequence folder under ``root``, as a name relative to it (README layouts)."""
    names = set()
    for marker in ("groundtruth_rect.txt", "groundtruth.txt"):
        names |= {str(p.parent.relative_to(root)) for p in root.rglob(marker)}
    names |= {str(p.parents[1].relative_to(root)) for p in root.glob("uav/*/anno/*.txt")}
    return names


def test_split_is_disjoint_and_spans_the_categories():
    split = load_split()
    assert not set(split.training) & set(split.evaluation)
    assert len(split.evaluation) == 9 and len(split.training) == 20
    spanned = {tag for tags in split.categories.values() for tag in tags}
    assert spanned == {"person", "vehicle", "animal", "aerial", "occlusion", "fast-motion"}
    for tag in split.required_categories:  # at least two sequences per category, not one lucky clip
        assert sum(tag in tags for tags in split.categories.values()) >= 2, tag
    assert all(len(split.why[name]) > 20 for name in split.evaluation)


def test_first_demos_training_data_and_the_twice_annotated_clip_stay_on_the_training_side():
    split = load_split()
    assert set(FIRST_DEMOS_TRAINED_ON) <= set(split.training)
    assert {"otb/Diving", "vot/diving"} <= set(split.training)  # the same clip, annotated twice
    assert "vot/hand1" in split.training  # calibration's example uses it


@pytest.mark.skipif(not SEQUENCES.is_dir(), reason="../shared/data is absent (a fresh clone has none)")
def test_split_covers_every_sequence_present():
    split = load_split()
    present = _sequence_folders(SEQUENCES)
    assert len(present) == 29
    assert set(split.training) | set(split.evaluation) == present
    assert all((SEQUENCES / name).is_dir() for name in split.training + split.evaluation)


def test_split_file_errors_name_the_problem(tmp_path):
    bad = tmp_path / "splits.toml"
    bad.write_text('version = 1\ncategories = ["person"]\n[evaluation."a/b"]\ncategories = ["person"]\n'
                   'why = "a reason long enough"\n[training]\nsequences = ["a/b", "c/d"]\n')
    with pytest.raises(InputError, match=r"\['a/b'\] are in both splits"):
        load_split(bad)
    bad.write_text('version = 1\ncategories = ["person"]\n[evaluation."a/b"]\ncategories = ["cat"]\n'
                   'why = "x"\n[training]\nsequences = ["c/d"]\n')
    with pytest.raises(InputError, match="has categories \\['cat'\\]"):
        load_split(bad)
    with pytest.raises(InputError, match="does not exist"):
        load_split(tmp_path / "missing.toml")


def test_training_refuses_evaluation_sequences_wherever_they_are(tmp_path):
    split = load_split(root=tmp_path)
    for name in split.evaluation + split.training:
        (tmp_path / name).mkdir(parents=True)
    check_training_data([str(tmp_path / n) for n in split.training] + ["synthetic:3"], split)
    for spec, name in ((tmp_path / "otb" / "Jogging1", "otb/Jogging1"),  # the sequence itself
                       (tmp_path / "uav", "uav/UAVDT_S0601"),  # a folder holding one
                       (tmp_path / "vot" / "tunnel" / "sub", "vot/tunnel"),  # a folder inside one
                       (Path("/elsewhere/copy/otb/Deer"), "otb/Deer")):  # a copy of the data elsewhere
        with pytest.raises(InputError, match=f"evaluation-split sequence '{name}'"):
            check_training_data([str(spec)], split)


def test_split_training_source_expands_to_the_training_folders(tmp_path):
    split = load_split(root=tmp_path)
    for name in split.training:
        (tmp_path / name).mkdir(parents=True)
    folders = expand_split_sources([f"split:training@{tmp_path}", "synthetic:2"], split)
    assert folders == [str(tmp_path / n) for n in split.training] + ["synthetic:2"]
    with pytest.raises(InputError, match="only split:training"):
        expand_split_sources(["split:evaluation"], split)
    with pytest.raises(InputError, match="20 training-split folder\\(s\\) are missing"):
        expand_split_sources([f"split:training@{tmp_path / 'nowhere'}"], split)


@pytest.mark.skipif(not SEQUENCES.is_dir(), reason="../shared/data is absent (a fresh clone has none)")
def test_parse_sources_refuses_an_evaluation_sequence_and_reads_the_training_split():
    with pytest.raises(InputError, match="evaluation-split sequence 'otb/Crossing'"):
        parse_sources([str(SEQUENCES / "otb" / "Crossing")])
    sources = parse_sources(["split:training"])
    assert len(sources) == 20 and sum(len(s) for s in sources) == 20
