"""tests/goldens.py: a disagreeing golden says in one line when other libraries are the reason."""

from __future__ import annotations

import pytest

from tests.goldens import differences, locked_libraries, running_libraries, shaped_by


def _other_opencv() -> dict[str, str]:
    recorded = running_libraries()
    name = recorded["opencv"].split("==")[0]
    return {**recorded, "opencv": f"{name}==4.0.0.21"}


def test_a_disagreement_under_other_libraries_is_one_line_naming_them_and_the_fix():
    with pytest.raises(pytest.fail.Exception) as failure:
        with shaped_by(_other_opencv(), "golden.json, clip 1"):
            assert [1.0, 2.0] == [1.0, 2.5]
    message = str(failure.value)
    assert "\n" not in message and not failure.value.pytrace
    assert message.startswith("golden.json, clip 1 disagrees, and it was recorded with other libraries (opencv 4.0.0.21 -> ")
    assert "`make install`" in message and "record_goldens.py" in message


def test_a_disagreement_under_the_recorded_libraries_keeps_its_numbers():
    with pytest.raises(AssertionError, match=r"2\.5"):
        with shaped_by(running_libraries(), "golden.json"):
            assert [1.0, 2.0] == [1.0, 2.5]


def test_agreement_passes_whatever_the_libraries():
    with shaped_by(_other_opencv(), "golden.json"):
        assert 1.0 == 1.0


def test_versions_are_compared_without_their_local_label_and_an_absent_library_counts():
    running = running_libraries()
    assert set(running) == {"opencv", "numpy", "onnxruntime"}
    assert differences({**running, "numpy": running["numpy"] + "+local"}) == []
    assert differences({"tensorflow": "tensorflow==2.0"}) == ["tensorflow 2.0 -> absent"]


def test_the_lock_pins_every_shaping_library_for_this_interpreter():
    locked = locked_libraries()
    assert set(locked) == {"opencv", "numpy", "onnxruntime"}
    assert all("==" in pin and pin.split("==")[1][0].isdigit() for pin in locked.values())
