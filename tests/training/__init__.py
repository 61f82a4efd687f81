"""Tests of the training package. Shared fixtures live here and are imported by the test modules."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=False)
def one_thread():
    """Run torch on one CPU thread for the test, then restore the setting.

    On a 2-core machine shared with other work, torch's default 2 intra-op threads spin against each
    other and a step gets 10-20x slower; one thread keeps these tests fast and their timing stable.
    """
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
