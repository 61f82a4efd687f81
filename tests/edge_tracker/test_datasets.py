"""Dataset readers: one tiny fake dataset per layout in tmp_path (with that layout's quirks), the
exact boxes after conversion to 0-based xywh, numeric frame order, absence -> NaN, layout detection,
clear errors on bad files, and the real sequences in ../shared/data when present.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_tracker.datasets.readers import (
    SUPPORTED_LAYOUTS,
    Dataset,
    Sequence,
    detect_layout,
    list_frames,
    load_dataset,
    load_dtb70,
    load_got10k,
    load_lasot,
    load_otb,
    load_sequence,
    load_trackingnet,
    load_uav123,
    load_uavdt,
    load_vot,
    natural_key,
)
from edge_tracker.errors import InputError

NAN = np.nan


def write_frames(folder: Path, names: list[str], images: bool = True) -> list[Path]:
    """8x8 frames; frame k is filled with 10 * k (PNG keeps it exact). ``images=False``: empty files."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for k, name in enumerate(names):
        path = folder / name
        if images:
            assert cv2.imwrite(str(path), np.full((8, 8, 3), 10 * k, np.uint8))
        else:
            path.touch()
        paths.append(path)
    return paths


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def assert_boxes(actual: np.ndarray, expected) -> None:
    np.testing.assert_array_equal(actual, np.array(expected, dtype=np.float64))


# ---------------------------------------------------------------------------------------------- fakes

def make_otb(root: Path, name: str = "Crossing", n: int = 3, gt: str | None = None) -> Path:
    folder = root / name
    write_frames(folder / "img", [f"{i:04d}.png" for i in range(1, n + 1)])
    write(folder / "groundtruth_rect.txt",
          gt if gt is not None else "11\t21\t30\t40\n12,22 31\t41\n 13 ,23,32.5,42\n\n\n")
    return folder


def make_vot(root: Path, frame_sub: str = "imgs") -> Path:
    folder = root / "bag"
    target = folder / frame_sub if frame_sub else folder
    write_frames(target, [f"{i:08d}.jpg" for i in range(1, 5)])
    write(folder / "groundtruth.txt",
          "11,21,31,11,41,31,21,41\n"        # rotated square: corners x 11..41, y 11..41 (1-based)
          "11.5,21,30,40\n"                  # rectangle form x,y,w,h (1-based)
          "m2,3,4,2,1,2,3,2\n"               # VOT2020 mask, 0-based: 4x2 region at (2,3)
          "nan,nan,nan,nan")                 # VOT-LT: target absent; no final newline
    write(folder / "occlusion.tag", "0\n1\n1\n0\n")
    return folder


def make_uav(root: Path, name: str = "wakeboard7") -> Path:
    write_frames(root / "data_seq" / name, [f"{i:06d}.jpg" for i in range(1, 5)])
    write(root / "anno" / f"{name}.txt", "623,299,11,38\nNaN,NaN,NaN,NaN\n0,0,0,0\n624.5,296,11,38\n")
    return root


def make_uavdt(root: Path, names: tuple[str, ...] = ("S0601",)) -> Path:
    for name in names:
        write_frames(root / name, [f"img{i:06d}.jpg" for i in range(1, 4)])
        write(root / "anno" / f"{name}_gt.txt", "562,126,20,23\n563,126,21,24\n563,127,20,24")
    return root


def make_got10k(split: Path, name: str = "GOT-10k_Val_000001", absence: bool = True) -> Path:
    folder = split / name
    write_frames(folder, [f"{i:08d}.jpg" for i in range(1, 5)])
    # frame 3 is absent: its box is a placeholder with zero size, which absence.label overrides
    write(folder / "groundtruth.txt", "10,20,30,40\n11.5,21,30,40\n5,5,0,0\n12,22,30,40\n")
    if absence:
        write(folder / "absence.label", "0\n0\n1\n0\n")
        write(folder / "cover.label", "8\n7\n0\n8\n")
        write(folder / "meta_info.ini", "[METAINFO]\nurl: https://example.org/v\nobject_class: dog\n")
    return folder


def make_lasot(root: Path, name: str = "airplane-1") -> Path:
    folder = root / name.rsplit("-", 1)[0] / name
    write_frames(folder / "img", [f"{i:08d}.jpg" for i in range(1, 5)])
    write(folder / "groundtruth.txt", "11,21,30,40\n12,22,30,40\n0,0,0,0\n14,24,30,40\n")
    write(folder / "full_occlusion.txt", "0,1,0,0")
    write(folder / "out_of_view.txt", "0,0,1,0")
    write(folder / "nlp.txt", "white airplane landing on the runway\n")
    return folder


def make_trackingnet(root: Path, name: str = "abc_123", n: int = 11) -> Path:
    chunk = root / "TRAIN_0"
    write_frames(chunk / "frames" / name, [f"{i}.png" for i in range(n)])
    write(chunk / "anno" / f"{name}.txt", "".join(f"{10 + i},20,30,40\n" for i in range(n)))
    return chunk


# ------------------------------------------------------------------------------------------ frames

def test_natural_sort_orders_digit_runs_numerically(tmp_path):
    write_frames(tmp_path, ["10.jpg", "2.jpg", "1.jpg", "notes.txt", "100.jpg"], images=False)
    assert [p.name for p in list_frames(tmp_path)] == ["1.jpg", "2.jpg", "10.jpg", "100.jpg"]
    assert sorted(["img10.png", "img9.png", "IMG1.png"], key=natural_key) == ["IMG1.png", "img9.png", "img10.png"]


def test_list_frames_errors_name_the_folder(tmp_path):
    with pytest.raises(InputError, match="missing_dir"):
        list_frames(tmp_path / "missing_dir")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="holds no image"):
        list_frames(tmp_path / "empty")


# --------------------------------------------------------------------------------------------- OTB

def test_otb_mixed_separators_one_based_to_zero_based(tmp_path):
    folder = make_otb(tmp_path)
    seq = load_otb(folder)
    assert isinstance(seq, Sequence) and seq.name == "Crossing" and seq.layout == "otb" and len(seq) == 3
    assert_boxes(seq.boxes, [[10, 20, 30, 40], [11, 21, 31, 41], [12, 22, 32.5, 42]])
    assert seq.boxes.dtype == np.float64 and not seq.boxes.flags.writeable
    assert_boxes(seq.init_box, [10, 20, 30, 40])
    assert [p.name for p in seq.frames] == ["0001.png", "0002.png", "0003.png"]
    image = seq.frame(2)
    assert image.shape == (8, 8, 3) and image.dtype == np.uint8 and image[0, 0, 0] == 20
    assert seq.frame(-1)[0, 0, 0] == 20
    assert seq.attributes["annotation"] == folder / "groundtruth_rect.txt"


def test_otb_last_line_without_newline_and_attrs(tmp_path):
    folder = make_otb(tmp_path, "Car1", n=2, gt="23,88,66,55\r\n23,89,66,54")
    write(folder / "attrs.txt", "IV, SV, MB")
    seq = load_sequence(folder)
    assert_boxes(seq.boxes, [[22, 87, 66, 55], [22, 88, 66, 54]])
    assert seq.attributes["attributes"] == ("IV", "SV", "MB")


def test_otb_two_targets(tmp_path):
    folder = tmp_path / "Jogging"
    write_frames(folder / "img", ["0001.jpg", "0002.jpg"], images=False)
    write(folder / "groundtruth_rect.1.txt", "111\t98\t25\t101\n112\t100\t23\t99\n")
    write(folder / "groundtruth_rect.2.txt", "181,93,20,108\n180,94,20,108\n")
    first = load_sequence(folder)
    assert first.name == "Jogging-1" and first.attributes["target"] == 1
    assert_boxes(first.boxes, [[110, 97, 25, 101], [111, 99, 23, 99]])
    second = load_otb(folder, target=2)
    assert second.name == "Jogging-2"
    assert_boxes(second.boxes, [[180, 92, 20, 108], [179, 93, 20, 108]])
    ds = load_dataset(tmp_path)
    assert ds.names == ["Jogging-1", "Jogging-2"]
    assert_boxes(ds["Jogging-2"].boxes, second.boxes)
    with pytest.raises(InputError, match=r"groundtruth_rect\.3\.txt"):
        load_otb(folder, target=3)


def test_otb_empty_first_target_file_is_skipped(tmp_path):
    folder = tmp_path / "Human4"
    write_frames(folder / "img", ["0001.jpg"], images=False)
    write(folder / "groundtruth_rect.1.txt", "")
    write(folder / "groundtruth_rect.2.txt", "99,237,27,82\n")
    seq = load_sequence(folder)
    assert seq.name == "Human4-2"
    assert_boxes(seq.boxes, [[98, 236, 27, 82]])


def test_otb_documented_frame_range_david(tmp_path):
    folder = tmp_path / "David"
    write_frames(folder / "img", [f"{i:04d}.jpg" for i in range(1, 771)], images=False)
    write(folder / "groundtruth_rect.txt", "".join(f"{100 + i % 7},80,64,78\n" for i in range(471)))
    seq = load_otb(folder)
    assert len(seq) == 471
    assert seq.frames[0].name == "0300.jpg" and seq.frames[-1].name == "0770.jpg"


def test_otb_undocumented_count_mismatch_says_the_counts(tmp_path):
    folder = make_otb(tmp_path, "Crossing", n=4)  # 4 frames, 3 boxes
    with pytest.raises(InputError, match=r"groundtruth_rect\.txt has 3 boxes but .*img holds 4 frames"):
        load_otb(folder)


def test_dtb70_float_boxes(tmp_path):
    folder = make_otb(tmp_path, "Surfing06", n=2, gt="725,304,41,60\n722.5,308,41,60.25\n")
    seq = load_dtb70(folder)
    assert seq.layout == "dtb70"
    assert_boxes(seq.boxes, [[724, 303, 41, 60], [721.5, 307, 41, 60.25]])
    assert load_sequence(folder, layout="dtb70").layout == "dtb70"


# --------------------------------------------------------------------------------------------- VOT

@pytest.mark.parametrize("frame_sub", ["imgs", "color", ""])
def test_vot_polygon_rectangle_mask_and_absent(tmp_path, frame_sub):
    folder = make_vot(tmp_path, frame_sub)
    seq = load_sequence(folder)
    assert seq.layout == "vot" and seq.name == "bag" and len(seq) == 4
    assert_boxes(seq.boxes, [
        [10, 10, 30, 30],       # polygon -> axis-aligned bbox, minus 1
        [10.5, 20, 30, 40],     # rectangle, minus 1
        [3, 3, 3, 2],           # mask: set pixels at columns 3..5, rows 3..4 (0-based, unchanged)
        [NAN, NAN, NAN, NAN],   # absent
    ])
    assert [p.name for p in seq.frames] == [f"{i:08d}.jpg" for i in range(1, 5)]
    np.testing.assert_array_equal(seq.attributes["tags"]["occlusion"], [0, 1, 1, 0])
    np.testing.assert_array_equal(seq.present, [True, True, True, False])


def test_vot_bad_region_line(tmp_path):
    folder = make_vot(tmp_path)
    write(folder / "groundtruth.txt", "1,2,3,4\n1,2,3,4,5\n1,2,3,4\n1,2,3,4\n")
    with pytest.raises(InputError, match=r"groundtruth\.txt, line 2: expected a VOT region.*got 5 values"):
        load_vot(folder)


def test_vot_missing_annotation(tmp_path):
    folder = tmp_path / "seq"
    write_frames(folder / "color", ["00000001.jpg"], images=False)
    with pytest.raises(InputError, match=r"groundtruth\.txt does not exist"):
        load_vot(folder)


# ------------------------------------------------------------------------------------------ UAV123

def test_uav123_root_nan_and_zero_rows_absent(tmp_path):
    root = make_uav(tmp_path / "UAV123_10fps_wakeboard7")
    seq = load_sequence(root)
    assert seq.layout == "uav123" and seq.name == "wakeboard7"
    assert_boxes(seq.boxes, [[622, 298, 11, 38], [NAN] * 4, [NAN] * 4, [623.5, 295, 11, 38]])
    via_frames = load_sequence(root / "data_seq" / "wakeboard7")
    assert_boxes(via_frames.boxes, seq.boxes)
    assert via_frames.frames == seq.frames


def test_uav123_official_subsets_attributes_and_dataset(tmp_path):
    root = tmp_path / "Dataset_UAV123_10fps" / "UAV10fps"
    for name in ("car1", "bike1"):
        write_frames(root / "data_seq" / "UAV123_10fps" / name, [f"{i:06d}.jpg" for i in range(1, 3)], images=False)
        write(root / "anno" / "UAV123_10fps" / f"{name}.txt", "11,21,30,40\n12,22,30,40\n")
    write(root / "anno" / "UAV123_10fps" / "att" / "car1.txt", "1,0,0,1,0,0,0,0,0,0,1,0\n")
    seq = load_uav123(root, "car1")
    assert_boxes(seq.boxes, [[10, 20, 30, 40], [11, 21, 30, 40]])
    assert seq.attributes["subset"] == "UAV123_10fps" and seq.attributes["att"][:4] == (1, 0, 0, 1)
    assert load_sequence(root / "data_seq" / "UAV123_10fps" / "bike1").name == "bike1"
    ds = load_dataset(root)
    assert ds.names == ["bike1", "car1"] and [s.name for s in ds] == ["bike1", "car1"]
    with pytest.raises(InputError, match="pass name="):
        load_uav123(root)


def test_uav123_part_of_a_longer_sequence_needs_frame_range(tmp_path):
    root = tmp_path / "UAV123"
    write_frames(root / "data_seq" / "UAV123" / "bird1", [f"{i:06d}.jpg" for i in range(1, 7)], images=False)
    write(root / "anno" / "UAV123" / "bird1_1.txt", "11,21,30,40\n12,22,30,40\n13,23,30,40\n")
    with pytest.raises(InputError, match=r"bird1_1.*frame_range"):
        load_uav123(root, "bird1_1")
    seq = load_uav123(root, "bird1_1", frame_range=(2, 4))
    assert [p.name for p in seq.frames] == ["000002.jpg", "000003.jpg", "000004.jpg"]


# ------------------------------------------------------------------------------------------- UAVDT

def test_uavdt_root_and_frame_folder_one_based_to_zero_based(tmp_path):
    root = make_uavdt(tmp_path / "UAVDT")
    seq = load_sequence(root)
    assert seq.layout == "uavdt" and seq.name == "S0601"
    assert [p.name for p in seq.frames] == ["img000001.jpg", "img000002.jpg", "img000003.jpg"]
    assert_boxes(seq.boxes, [[561, 125, 20, 23], [562, 125, 21, 24], [562, 126, 20, 24]])
    assert seq.attributes["annotation"] == root / "anno" / "S0601_gt.txt"
    via_frames = load_sequence(root / "S0601")
    assert via_frames.frames == seq.frames and via_frames.layout == "uavdt"
    assert_boxes(via_frames.boxes, seq.boxes)


def test_uavdt_dataset_and_errors(tmp_path):
    root = make_uavdt(tmp_path / "UAVDT", ("S1001", "S0601"))
    write(root / "anno" / "S9999_gt.txt", "1,1,5,5\n")  # no frame folder: not a sequence of the root
    ds = load_dataset(root)
    assert ds.layout == "uavdt" and ds.names == ["S0601", "S1001"]
    assert load_uavdt(root, "S1001").name == "S1001"
    with pytest.raises(InputError, match="pass name="):
        load_uavdt(root)
    with pytest.raises(InputError, match=r"S0000_gt\.txt does not exist"):
        load_uavdt(root, "S0000")
    write(root / "anno" / "S0601_gt.txt", "562,126,20,23\n")
    with pytest.raises(InputError, match=r"S0601_gt\.txt has 1 boxes but .*S0601 holds 3 frames"):
        load_uavdt(root, "S0601")


# ----------------------------------------------------------------------------------------- GOT-10k

def test_got10k_zero_based_absence_cover_meta(tmp_path):
    folder = make_got10k(tmp_path / "val")
    seq = load_sequence(folder)
    assert seq.layout == "got10k" and seq.name == "GOT-10k_Val_000001"
    assert_boxes(seq.boxes, [[10, 20, 30, 40], [11.5, 21, 30, 40], [NAN] * 4, [12, 22, 30, 40]])
    np.testing.assert_array_equal(seq.attributes["cover"], [8, 7, 0, 8])
    assert seq.attributes["meta"]["object_class"] == "dog"
    assert seq.attributes["first_frame_only"] is False


def test_got10k_test_split_first_box_only(tmp_path):
    folder = tmp_path / "test" / "GOT-10k_Test_000001"
    write_frames(folder, [f"{i:08d}.jpg" for i in range(1, 4)], images=False)
    write(folder / "groundtruth.txt", "10,20,30,40")
    seq = load_sequence(folder)  # detected by the folder name: no label files in the test split
    assert seq.layout == "got10k" and seq.attributes["first_frame_only"] is True
    assert_boxes(seq.boxes, [[10, 20, 30, 40], [NAN] * 4, [NAN] * 4])


def test_got10k_splits_and_list(tmp_path):
    for split, name in (("val", "GOT-10k_Val_000002"), ("val", "GOT-10k_Val_000001"),
                        ("train", "GOT-10k_Train_000001")):
        make_got10k(tmp_path / split, name)
    write(tmp_path / "val" / "list.txt", "GOT-10k_Val_000001\nGOT-10k_Val_000002\n")
    write(tmp_path / "train" / "list.txt", "GOT-10k_Train_000001\n")
    assert load_dataset(tmp_path / "val").names == ["GOT-10k_Val_000001", "GOT-10k_Val_000002"]
    with pytest.raises(InputError, match="pass subset="):
        load_dataset(tmp_path)
    assert load_dataset(tmp_path, subset="train").names == ["GOT-10k_Train_000001"]
    write(tmp_path / "val" / "list.txt", "GOT-10k_Val_000001\nGOT-10k_Val_000009\n")
    with pytest.raises(InputError, match=r"list\.txt, line 2: .*GOT-10k_Val_000009 does not exist"):
        load_dataset(tmp_path / "val")


def test_got10k_label_count_mismatch(tmp_path):
    folder = make_got10k(tmp_path)
    write(folder / "absence.label", "0\n0\n1\n")
    with pytest.raises(InputError, match=r"absence\.label has 3 labels but the sequence has 4 frames"):
        load_got10k(folder)


# ------------------------------------------------------------------------------------------- LaSOT

def test_lasot_flags_make_nan_rows(tmp_path):
    folder = make_lasot(tmp_path)
    seq = load_sequence(folder)
    assert seq.layout == "lasot" and seq.name == "airplane-1"
    assert_boxes(seq.boxes, [[10, 20, 30, 40], [NAN] * 4, [NAN] * 4, [13, 23, 30, 40]])
    assert seq.attributes["nlp"] == "white airplane landing on the runway"
    assert seq.attributes["class"] == "airplane"
    np.testing.assert_array_equal(seq.attributes["full_occlusion"], [False, True, False, False])
    np.testing.assert_array_equal(seq.attributes["out_of_view"], [False, False, True, False])


def test_lasot_dataset_class_folders_natural_order(tmp_path):
    for name in ("airplane-10", "airplane-2", "basketball-1"):
        make_lasot(tmp_path, name)
    ds = load_dataset(tmp_path)
    assert isinstance(ds, Dataset) and len(ds) == 3
    assert ds.names == ["airplane-2", "airplane-10", "basketball-1"]
    assert ds[1].name == "airplane-10" and ds[-1].name == "basketball-1"


def test_lasot_bad_flag_value(tmp_path):
    folder = make_lasot(tmp_path)
    write(folder / "out_of_view.txt", "0,0,2,0")
    with pytest.raises(InputError, match=r"out_of_view\.txt, line 1: .*must be 0\.\.1, got 2"):
        load_lasot(folder)


# ------------------------------------------------------------------------------------- TrackingNet

def test_trackingnet_numeric_frame_order_and_zero_based(tmp_path):
    chunk = make_trackingnet(tmp_path)
    seq = load_trackingnet(chunk, "abc_123")
    assert [p.name for p in seq.frames][:3] == ["0.png", "1.png", "2.png"] and seq.frames[10].name == "10.png"
    assert seq.frame(10)[0, 0, 0] == 100  # frame k is filled with 10 * k: order is numeric
    assert_boxes(seq.boxes[[0, 10]], [[10, 20, 30, 40], [20, 20, 30, 40]])
    auto = load_sequence(chunk / "frames" / "abc_123")
    assert auto.layout == "trackingnet" and auto.frames == seq.frames
    assert load_dataset(tmp_path).names == ["abc_123"]


def test_trackingnet_test_split_first_box_only(tmp_path):
    chunk = tmp_path / "TEST"
    write_frames(chunk / "frames" / "xyz", ["0.jpg", "1.jpg"], images=False)
    write(chunk / "anno" / "xyz.txt", "1,2,3,4\n")
    seq = load_trackingnet(chunk, "xyz")
    assert_boxes(seq.boxes, [[1, 2, 3, 4], [NAN] * 4])


# ------------------------------------------------------------------------------- layout detection

def test_detect_layout_for_every_fake(tmp_path):
    assert detect_layout(make_otb(tmp_path / "o")) == "otb"
    assert detect_layout(make_vot(tmp_path / "v")) == "vot"
    assert detect_layout(make_uav(tmp_path / "u")) == "uav123"
    assert detect_layout(make_uavdt(tmp_path / "ud")) == "uavdt"
    assert detect_layout(tmp_path / "ud" / "S0601") == "uavdt"
    assert detect_layout(make_got10k(tmp_path / "g")) == "got10k"
    assert detect_layout(make_lasot(tmp_path / "l")) == "lasot"
    assert detect_layout(make_trackingnet(tmp_path / "t") / "frames" / "abc_123") == "trackingnet"


def test_unknown_layout_lists_what_was_looked_for(tmp_path):
    write(tmp_path / "mystery" / "labels.csv", "1,2,3,4\n")
    with pytest.raises(InputError) as info:
        load_sequence(tmp_path / "mystery")
    message = str(info.value)
    assert "groundtruth_rect.txt" in message and "data_seq" in message and "labels.csv" in message
    assert all(layout in message for layout in SUPPORTED_LAYOUTS)
    with pytest.raises(InputError, match="unknown layout 'kitti'"):
        load_sequence(make_otb(tmp_path), layout="kitti")
    with pytest.raises(InputError, match="no sequence found"):
        load_dataset(tmp_path / "mystery")
    with pytest.raises(InputError, match="bad option"):
        load_sequence(make_otb(tmp_path / "x"), frame_range=(1, 2))


# ------------------------------------------------------------------------------------- bad inputs

@pytest.mark.parametrize("text, pattern", [
    ("11,21,30,40\n11,21,abc,40\n11,21,30,40\n", r"line 2: cannot parse '11,21,abc,40'"),
    ("11,21,30\n11,21,30,40\n11,21,30,40\n", r"line 1: expected 4 values .* got 3"),
    ("11,21,30,40\n11,21,30,40\n11,21,0,40\n", r"line 3: box '11,21,0,40' has width 0"),
    ("11,21,30,-4\n11,21,30,40\n11,21,30,40\n", r"line 1: box .* height -4"),
    ("11,21,30,40\n\n11,21,30,40\n11,21,30,40\n", r"line 2: blank line"),
    ("11,21,30,40\nNaN,21,30,40\n11,21,30,40\n", r"line 2: .* mixes NaN and numbers"),
    ("11,21,30,40\n11,21,inf,40\n11,21,30,40\n", r"line 2: infinite value"),
    ("", r"is empty"),
])
def test_bad_annotation_text(tmp_path, text, pattern):
    folder = make_otb(tmp_path, gt=text)
    with pytest.raises(InputError, match=r"groundtruth_rect\.txt.*" + pattern):
        load_otb(folder)


def test_missing_otb_annotation(tmp_path):
    folder = tmp_path / "Crossing"
    write_frames(folder / "img", ["0001.jpg"], images=False)
    with pytest.raises(InputError, match=r"looked for groundtruth_rect\.txt"):
        load_otb(folder)


def test_unreadable_frame_and_absent_first_box(tmp_path):
    folder = tmp_path / "Broken"
    write_frames(folder / "img", ["0001.jpg", "0002.jpg"], images=False)  # empty files: not decodable
    write(folder / "groundtruth_rect.txt", "0,0,0,0\n11,21,30,40\n")
    seq = load_otb(folder)
    with pytest.raises(InputError, match=r"0001\.jpg"):
        seq.frame(0)
    with pytest.raises(InputError, match="out of range"):
        seq.frame(2)
    with pytest.raises(InputError, match="first frame .* has no box"):
        seq.init_box


def test_sequence_checks_its_shapes(tmp_path):
    with pytest.raises(InputError, match=r"2 frames but 1 boxes"):
        Sequence("s", (tmp_path / "a.jpg", tmp_path / "b.jpg"), np.zeros((1, 4)), "otb")
    with pytest.raises(InputError, match=r"shape \[N, 4\]"):
        Sequence("s", (tmp_path / "a.jpg",), np.zeros((1, 3)), "otb")


# --------------------------------------------------------------------------------------- real data

REAL = {  # path under sequences/, frame count from ../shared/data/README.md
    "otb/Crossing": 120, "otb/Couple": 140, "otb/Jogging1": 307, "otb/David": 471, "otb/Car1": 1020,
    "otb/Skiing": 81, "otb/Bird2": 99, "otb/Dog": 127, "otb/Girl": 500, "otb/Deer": 71, "otb/Vase": 271,
    "otb/Human7": 250, "otb/Jumping": 313, "otb/Ironman": 166, "otb/Diving": 215,
    "vot/bag": 196, "vot/sphere": 201, "vot/diving": 219, "vot/sunshade": 172, "vot/gymnastics": 207,
    "vot/polarbear": 371, "vot/hand1": 244, "vot/drunk": 600, "vot/tunnel": 600,
    "uav/UAV123_10fps_wakeboard7": 67, "uav/UAV123_10fps_building5": 161, "uav/DTB70_Surfing06": 106,
    "uav/UAVDT_S0601": 82, "lasot/airplane/airplane-1": 600,
}


def first_line_numbers(path: Path) -> np.ndarray:
    """The numbers of an annotation file's first line, whatever its separators."""
    first_line = path.read_text(encoding="utf-8-sig").splitlines()[0]
    return np.array([float(v) for v in first_line.replace("\t", " ").replace(",", " ").split()])


@pytest.mark.parametrize("rel, n_frames", sorted(REAL.items()))
def test_real_sequences_load(shared_data, rel, n_frames):
    seq = load_sequence(shared_data / "sequences" / rel)
    assert len(seq) == n_frames and seq.boxes.shape == (n_frames, 4)
    box = seq.init_box
    assert np.isfinite(box).all() and box[2] > 0 and box[3] > 0
    height, width = seq.frame(0).shape[:2]
    assert 0 <= box[0] and 0 <= box[1] and box[0] + box[2] <= width and box[1] + box[3] <= height


def test_real_crossing_first_box_is_otb_minus_one(shared_data):
    folder = shared_data / "sequences" / "otb" / "Crossing"
    raw = first_line_numbers(folder / "groundtruth_rect.txt")
    assert_boxes(load_sequence(folder).init_box, raw - [1, 1, 0, 0])


def test_real_otb_dataset(shared_data):
    ds = load_dataset(shared_data / "sequences" / "otb")
    assert ds.names == ["Bird2", "Car1", "Couple", "Crossing", "David", "Deer", "Diving", "Dog", "Girl", "Human7",
                        "Ironman", "Jogging1", "Jumping", "Skiing", "Vase"]
    assert {s.layout for s in ds} == {"otb"}
    lengths = {s.name: len(s) for s in ds}
    assert [lengths[n] for n in ("Car1", "Couple", "Crossing", "David", "Jogging1")] == [1020, 140, 120, 471, 307]
    assert [lengths[n] for n in ("Bird2", "Deer", "Diving", "Girl", "Vase")] == [99, 71, 215, 500, 271]
    assert ds["David"].frames[0].name == "0300.jpg" and ds["David"].frames[-1].name == "0770.jpg"
    assert ds["Diving"].frames[-1].name == "0215.jpg"  # the frames the ground truth covers (OTB_FRAME_RANGES)


def test_real_vot2014_frames_in_the_folder_and_label_tags(shared_data):
    folder = shared_data / "sequences" / "vot" / "sphere"
    assert detect_layout(folder) == "vot"
    seq = load_sequence(folder)
    assert len(seq) == 201 and {p.parent for p in seq.frames} == {folder}  # VOT2014: no frame subfolder
    assert seq.frames[0].name == "00000001.jpg" and seq.frames[-1].name == "00000201.jpg"
    corners = first_line_numbers(folder / "groundtruth.txt").reshape(-1, 2) - 1.0  # 4 corners, 1-based
    x0, y0 = corners.min(axis=0)
    x1, y1 = corners.max(axis=0)
    np.testing.assert_allclose(seq.init_box, [x0, y0, x1 - x0, y1 - y0], atol=1e-9)
    np.testing.assert_allclose(seq.init_box, [138.53, 57.57, 87.15, 90.0], atol=1e-9)
    tags = seq.attributes["tags"]
    assert sorted(tags) == ["camera_motion", "illum_change", "motion_change", "occlusion", "size_change"]
    assert all(len(flags) == 201 for flags in tags.values())
    ds = load_dataset(shared_data / "sequences" / "vot")
    assert ds.names == ["bag", "diving", "drunk", "gymnastics", "hand1", "polarbear", "sphere", "sunshade", "tunnel"]
    assert len(ds["tunnel"]) == 600 and "tags" not in ds["bag"].attributes  # VOT2015 bag: frames in imgs/


def test_real_lasot_class_folder_and_flags(shared_data):
    root = shared_data / "sequences" / "lasot"
    ds = load_dataset(root)
    assert ds.names == ["airplane-1"]
    seq = ds["airplane-1"]
    folder = root / "airplane" / "airplane-1"
    assert seq.layout == "lasot" and detect_layout(folder) == "lasot" and len(seq) == 600
    assert seq.frames[0] == folder / "img" / "00000001.jpg" and seq.frames[-1].name == "00000600.jpg"
    assert_boxes(seq.init_box, first_line_numbers(folder / "groundtruth.txt") - [1, 1, 0, 0])
    assert_boxes(seq.init_box, [366, 100, 41, 16])
    assert seq.attributes["class"] == "airplane" and seq.attributes["nlp"] == "white airplane landing on ground"
    assert seq.attributes["full_occlusion"].shape == (600,) and seq.attributes["out_of_view"].shape == (600,)
    assert seq.present.all()  # no frame of this cut is flagged


def test_real_uavdt_root_and_frame_folder(shared_data):
    root = shared_data / "sequences" / "uav" / "UAVDT_S0601"
    assert detect_layout(root) == "uavdt" and detect_layout(root / "S0601") == "uavdt"
    seq = load_sequence(root)
    assert seq.layout == "uavdt" and seq.name == "S0601" and len(seq) == 82
    assert seq.frames[0].name == "img000001.jpg" and seq.frames[-1].name == "img000082.jpg"
    assert_boxes(seq.init_box, first_line_numbers(root / "anno" / "S0601_gt.txt") - [1, 1, 0, 0])
    assert_boxes(seq.init_box, [561, 125, 20, 23])
    assert seq.frame(0).shape == (540, 1024, 3)
    assert load_sequence(root / "S0601").frames == seq.frames
    ds = load_dataset(shared_data / "sequences" / "uav")
    assert ds.names == ["building5", "DTB70_Surfing06", "S0601", "wakeboard7"]
    assert [ds[n].layout for n in ds.names] == ["uav123", "otb", "uavdt", "uav123"]
