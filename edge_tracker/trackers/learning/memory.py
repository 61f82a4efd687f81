"""The sample memory's weights: which slot a new sample takes and how much every sample counts."""

from __future__ import annotations

import numpy as np

from edge_tracker.errors import ConfigError


class SampleMemory:
    """Weights of a fixed-capacity training set: new samples enter with weight ``learning_rate``.

    Every new sample gets weight ``learning_rate`` and the others share ``1 - learning_rate``, so old
    samples decay geometrically. While there is room a free slot is used; once full, the sample with
    the smallest weight among the non-initial ones is replaced. The first-frame samples together keep
    at least ``init_min_weight`` of the total (SPEC 1.6: 0.25), so the tracker never forgets the
    target as it was given. Slots never used weigh 0, which is what lets the learning graphs take the
    memory as one fixed-size tensor.
    """

    def __init__(self, capacity: int, num_init: int, init_min_weight: float) -> None:
        if num_init < 1 or capacity <= num_init:
            raise ConfigError(f"the sample memory must hold more than the {num_init} first-frame samples; "
                              f"memory_size is {capacity}. Raise memory_size or use fewer augmentations.")
        if not 0.0 <= init_min_weight <= 1.0:
            raise ConfigError(f"init_samples_minimum_weight must be in [0, 1], got {init_min_weight}")
        self.capacity, self.num_init, self.init_min_weight = capacity, num_init, init_min_weight
        self.weights = np.zeros(capacity, dtype=np.float64)
        self.weights[:num_init] = 1.0 / num_init
        self.count = num_init  # slots in use; the first num_init hold the first-frame samples

    def insert(self, learning_rate: float) -> int:
        """Make room for one new sample and return the slot to write it to."""
        if not 0.0 < learning_rate < 1.0:
            raise ConfigError(f"learning rate must be in (0, 1), got {learning_rate}")
        if self.count < self.capacity:
            slot = self.count
            self.count += 1
        else:
            slot = self.num_init + int(np.argmin(self.weights[self.num_init:]))
        self.weights[slot] = 0.0
        self.weights *= (1.0 - learning_rate) / self.weights.sum()
        self.weights[slot] = learning_rate
        init_total = self.weights[: self.num_init].sum()
        if init_total < self.init_min_weight:
            rest = self.weights[self.num_init:]
            rest *= (1.0 - self.init_min_weight) / rest.sum()
            self.weights[: self.num_init] = self.init_min_weight / self.num_init
        return slot
