"""TensorRT versions are parsed and compared as numbers; the feature table per release line."""

from __future__ import annotations

import pytest

from edge_tracker.errors import InputError
from export.tensorrt_support import TensorRTVersion, features, parse_version


@pytest.mark.parametrize("text, expected", [
    ("8.6.1", (8, 6, 1, 0)), ("10.13.3.9", (10, 13, 3, 9)), ("11.4.0.106", (11, 4, 0, 106)),
    ("8.6.1.post1", (8, 6, 1, 0)), ("10.3.0+cuda12", (10, 3, 0, 0)), ("v8.5.2.2", (8, 5, 2, 2)),
    (" 10.3 ", (10, 3, 0, 0)), ("10", (10, 0, 0, 0)), ((10, 3), (10, 3, 0, 0)),
])
def test_versions_parse_to_numbers(text, expected):
    version = parse_version(text)
    assert version == expected and isinstance(version, TensorRTVersion)


def test_versions_compare_as_numbers_not_text():
    # the torch2trt bug: as text "10.0" < "8.6" and "10.13" < "10.3"
    texts = ["10.0", "8.6", "10.13", "10.3"]
    assert texts[0] < texts[1] and texts[2] < texts[3]
    assert parse_version("10.0") > parse_version("8.6")
    assert parse_version("10.13.3.9") > parse_version("10.3.0")
    assert parse_version("10.3") == parse_version("10.3.0.0")  # trailing zeros do not change a version
    assert parse_version("8.5.2") >= (8, 5) and parse_version("8.4.3") < (8, 5)
    assert sorted(map(parse_version, ["11.4", "8.6.1", "10.13", "10.3", "8.5.2"])) == \
        [(8, 5, 2, 0), (8, 6, 1, 0), (10, 3, 0, 0), (10, 13, 0, 0), (11, 4, 0, 0)]
    assert str(parse_version("10.3")) == "10.3.0.0" and parse_version("10.13.3.9").line == (10, 13)


@pytest.mark.parametrize("text", ["", "tensorrt", "ten.three", "-1.0", (1, 2, 3, 4, 5), (8, -1), ("8", 6)])
def test_unreadable_versions_are_refused(text):
    with pytest.raises(InputError, match="TensorRT version"):
        parse_version(text)


def test_feature_table_per_release_line():
    jetpack5, jetpack6, latest10, trt11 = (features(v) for v in ("8.6.1", "10.3.0", "10.13.3.9", "11.4.0.106"))
    # 8.5/8.6: weakly typed, explicit batch, FP16/INT8 flags and the legacy calibrator
    assert (jetpack5.line, jetpack5.strongly_typed, jetpack5.explicit_batch_flag, jetpack5.precision_flags,
            jetpack5.legacy_calibrator) == ("8.5/8.6", False, True, True, True)
    assert features("8.5.2").optimization_level is False and jetpack5.optimization_level is True
    # 10.x: strongly typed with its creation flag; 11.x: strongly typed always, no precision flags
    for row in (jetpack6, latest10):
        assert (row.line, row.strongly_typed, row.strongly_typed_flag, row.precision_flags) == ("10.x", True, True, False)
    assert (trt11.strongly_typed, trt11.strongly_typed_flag, trt11.explicit_batch_flag, trt11.precision_flags,
            trt11.legacy_calibrator) == (True, False, False, False, False)
    # DLA as TensorRT documents it: JetPack 5 and 6 yes, 10.8+ and 11.0-11.4.0 no, 11.4.1 yes
    assert jetpack5.dla and jetpack6.dla and features("10.7").dla
    assert not latest10.dla and not trt11.dla and features("11.4.1").dla
    assert all(row.named_io for row in (jetpack5, jetpack6, latest10, trt11))
    assert jetpack5.max_opset == 17 and jetpack6.max_opset == 20


@pytest.mark.parametrize("text, advice", [("8.4.3", "8.5 or newer"), ("7.1.3", "8.5 or newer"),
                                          ("9.2.0", "upgrade edge_tracker"), ("12.0", "upgrade edge_tracker")])
def test_unknown_release_lines_are_refused_with_advice(text, advice):
    with pytest.raises(InputError, match=advice):
        features(text)


def test_tensorrt_rtx_versions_are_its_own():
    """Issue 24, defect 5: TensorRT-RTX 1.7.1 is not "TensorRT 1.7, needs 8.5 or newer"."""
    from export.tensorrt_support import PRODUCTS, product_of

    rtx = features("1.7.1.116", "rtx")
    assert rtx.product == "rtx" and rtx.line == "RTX 1.x" and rtx.strongly_typed and not rtx.legacy_calibrator
    assert rtx.builds_without_gpu and rtx.compute_targets and rtx.runtime_cache and not rtx.timing_cache
    assert not rtx.dla and not rtx.precision_flags
    assert not features("10.13.3.9").builds_without_gpu and features("10.13.3.9").timing_cache
    with pytest.raises(InputError, match="TensorRT-RTX 2.0.0.0 is not a release edge_tracker knows"):
        features("2.0", "rtx")
    with pytest.raises(InputError, match="unknown engine product 'trt'"):
        features("10.3", "trt")
    assert PRODUCTS["rtx"].module == "tensorrt_rtx"  # defect 4: the module TensorRT-RTX installs

    import types

    assert product_of(types.ModuleType("tensorrt_rtx")).key == "rtx"  # what a module says of itself: its name
    assert product_of(types.ModuleType("tensorrt")).key == "tensorrt"
