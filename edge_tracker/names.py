"""The names users type: trackers and their families, defined once for the runtime and the build side."""

from __future__ import annotations

SIAM_TRACKERS = ("scs-siam", "sca-siam", "ssa-siam")  # SiamFC with soft-mask fusion and attention variants
ATOM_TRACKERS = ("aff-atom", "atom")                  # AFF-ATOM (iAFF ResNet-18) and plain ATOM
TRACKERS = SIAM_TRACKERS + ATOM_TRACKERS
DEFAULT_TRACKER = "scs-siam"  # what a command runs when given no model and no --tracker
