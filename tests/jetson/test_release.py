"""Release, power mode and clocks parsed from recorded L4T text; the support verdicts of jetson/setup."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge_tracker.profiling.jetson import (
    DEVICE_TREE_MODEL,
    NV_TEGRA_RELEASE,
    describe_jetson,
    parse_jetson_clocks,
    parse_l4t_core_package,
    parse_nv_tegra_release,
    parse_nvpmodel,
)
from jetson.environment import constraints, environment_from, parse_dpkg_listing, problems, report

SAMPLES = Path(__file__).parent / "samples"


def sample(name: str) -> str:
    return (SAMPLES / name).read_text()


def test_nv_tegra_release_of_each_line():
    r35 = parse_nv_tegra_release(sample("nv_tegra_release.r35.4.1"))
    assert (r35.version, r35.board, r35.text, r35.jetpack) == ((35, 4, 1), "t186ref", "R35.4.1", "5.1.2")
    r36 = parse_nv_tegra_release(sample("nv_tegra_release.r36.4.0"))
    assert (r36.version, r36.board, r36.jetpack) == ((36, 4, 0), "generic", "6.1/6.2")
    assert parse_nv_tegra_release(sample("nv_tegra_release.r32.7.4")).jetpack == "4.6.x"
    assert parse_nv_tegra_release("# R38 (release), REVISION: 2, BOARD: x").version == (38, 2, 0)
    with pytest.raises(ValueError, match="expected '# R35 \\(release\\), REVISION: 4.1"):
        parse_nv_tegra_release("Ubuntu 22.04")


def test_l4t_core_package_version():
    assert parse_l4t_core_package(sample("dpkg_query_l4t_core.txt")).version == (35, 4, 1)
    assert parse_l4t_core_package(sample("dpkg_jp6.txt")).version == (36, 4, 0)
    with pytest.raises(ValueError, match="no nvidia-l4t-core version"):
        parse_l4t_core_package("dpkg-query: no packages found matching nvidia-l4t-core")


def test_power_mode_and_clocks():
    assert parse_nvpmodel(sample("nvpmodel_q.orin.txt")) == {"name": "MAXN", "id": 0}
    assert parse_nvpmodel(sample("nvpmodel_q.orin_nano_15w.txt")) == {"name": "15W", "id": 0}
    assert parse_nvpmodel("nvpmodel: command not found") == {}
    pinned = parse_jetson_clocks(sample("jetson_clocks_show.orin.txt"))
    # jetson_clocks on: GPU min == max == current; but EMC's min stays 204 MHz on this sample
    assert pinned["gpu"] == {"min": 1300500000, "max": 1300500000, "current": 1300500000}
    assert pinned["emc"]["current"] == 3199000000 and pinned["pinned"] is False
    assert pinned["cpu_khz"] == {"online": 3, "min_current": 2188800, "max_current": 2201600}
    assert pinned["power_mode"] == "MAXN"
    default = parse_jetson_clocks(sample("jetson_clocks_show.orin_default.txt"))
    assert default["gpu"]["current"] == 306000000 and default["pinned"] is False
    assert default["power_mode"] == "15W"
    locked = sample("jetson_clocks_show.orin.txt").replace("EMC MinFreq=204000000", "EMC MinFreq=3199000000")
    assert parse_jetson_clocks(locked)["pinned"] is True


def test_describe_jetson_from_recorded_files_and_commands():
    files = {NV_TEGRA_RELEASE: sample("nv_tegra_release.r36.4.0"),
             DEVICE_TREE_MODEL: sample("device_tree_model.orin_nano")}
    outputs = {"nvpmodel": sample("nvpmodel_q.orin_nano_15w.txt"),
               "jetson_clocks": sample("jetson_clocks_show.orin_default.txt")}
    info = describe_jetson(read_text=files.get, run=lambda command: outputs.get(command[0]))
    assert info["l4t"] == "R36.4.0" and info["jetpack"] == "6.1/6.2"
    assert info["model"] == "NVIDIA Jetson Orin Nano Developer Kit"
    assert info["power_mode"] == {"name": "15W", "id": 0}
    assert info["clocks"]["gpu"]["max"] == 624750000
    # no /etc/nv_tegra_release: the package version says it; neither: not a Jetson
    by_dpkg = describe_jetson(read_text=lambda path: None,
                              run=lambda command: sample("dpkg_query_l4t_core.txt") if command[0] == "dpkg-query" else None)
    assert by_dpkg["l4t"] == "R35.4.1" and "power_mode" not in by_dpkg
    assert describe_jetson(read_text=lambda path: None, run=lambda command: None) == {}


def _env(release_file: str, listing: str, files: str = ""):
    return environment_from(parse_nv_tegra_release(sample(release_file)), sample(listing), files)


def test_jetpack_5_environment_is_read_from_dpkg():
    env = _env("nv_tegra_release.r35.4.1", "dpkg_jp5.txt", sample("python3-libnvinfer.files.jp5"))
    assert (env.tensorrt, env.cuda, env.cudnn) == ("8.5.2-1+cuda11.4", "11.4.298-1", "8.6.0.166-1+cuda11.4")
    assert env.tensorrt_python == ["3.8"] and env.jetpack_package == "5.1.2-b104"
    assert env.line().name == "JetPack 5.1.x"
    assert problems(env, (3, 8)) == []
    wrong_python = problems(env, (3, 10))
    assert len(wrong_python) == 1 and "built for Python 3.8" in wrong_python[0]
    assert "PYTHON=/usr/bin/python3.8" in wrong_python[0]
    rows = dict(line.strip().split(None, 1) for line in report(env).splitlines() if not line.strip().startswith("TensorRT's"))
    assert rows["TensorRT"] == "8.5.2-1+cuda11.4" and rows["JetPack"] == "5.1.2" and rows["cuDNN"] == "8.6.0.166-1+cuda11.4"
    # a package removed but its configuration kept is not installed
    assert "cuda-cudart-10-2" not in parse_dpkg_listing(sample("dpkg_jp5.txt"))


def test_jetpack_6_environment():
    env = _env("nv_tegra_release.r36.4.0", "dpkg_jp6.txt",
               sample("python3-libnvinfer.files.jp5").replace("python3.8", "python3.10"))
    assert (env.tensorrt, env.cuda, env.cudnn) == ("10.3.0.30-1+cuda12.5", "12.6.68-1", "9.3.0.75-1")
    assert env.tensorrt_python == ["3.10"] and env.line().name == "JetPack 6.1/6.2"
    assert problems(env, (3, 10)) == []


@pytest.mark.parametrize("release_file, expected", [
    ("nv_tegra_release.r32.7.4", "L4T R32.7.4 (JetPack 4.6.x) is not supported: JetPack 4 and 5.0 lack"),
    ("nv_tegra_release.r36.3.0", "JetPack 6.0 ships TensorRT 8.6; upgrade to JetPack 6.1+"),
])
def test_unsupported_releases_are_refused_with_what_to_do(release_file, expected):
    found = problems(_env(release_file, "dpkg_jp6.txt"), (3, 10))
    assert len(found) == 1 and expected in found[0]
    assert "Supported: JetPack 5.1.x (L4T R35.2/3/4/5/6" in found[0]


def test_missing_pieces_and_a_foreign_tensorrt_are_named():
    listing = sample("dpkg_jp5.txt").replace("8.5.2-1+cuda11.4\tinstall", "8.6.2-1+cuda11.4\tinstall")
    env = environment_from(parse_nv_tegra_release(sample("nv_tegra_release.r35.4.1")), listing, "")
    assert any("TensorRT 8.6.2-1+cuda11.4 is installed, but JetPack 5.1.x ships TensorRT 8.5" in p
               for p in problems(env, (3, 8)))
    bare = environment_from(parse_nv_tegra_release(sample("nv_tegra_release.r35.4.1")),
                            sample("dpkg_query_l4t_core.txt"), "")
    found = problems(bare, (3, 8))
    assert any("sudo apt-get install nvidia-jetpack" in p for p in found)
    assert any("nvidia-cuda" in p for p in found)
    assert "not a Jetson" in problems(environment_from(None, "", ""), (3, 11))[0]


def test_constraints_refuse_pip_tensorrt_and_opencv_and_keep_numpy_1():
    old = constraints("1.17.4").splitlines()
    assert {"tensorrt<0", "opencv-python<0", "opencv-python-headless<0"} <= set(old)
    assert "numpy>=1.24,<2" in old
    assert "numpy==1.26.4  # JetPack's own" in constraints("1.26.4").splitlines()
    assert "numpy>=1.24,<2" in constraints(None).splitlines()
