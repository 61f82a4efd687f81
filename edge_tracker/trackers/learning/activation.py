"""The classifier's response activation and its labels, shared by both learners and the tracker."""

from __future__ import annotations

import numpy as np


def mlu(x: np.ndarray, alpha: float) -> np.ndarray:
    """``x`` for ``x >= 0``, ``alpha * (exp(x / alpha) - 1)`` below: negative scores saturate at -alpha."""
    return np.where(x >= 0, x, alpha * np.expm1(np.minimum(x, 0) / alpha))


def mlu_derivative(x: np.ndarray, alpha: float) -> np.ndarray:
    return np.where(x >= 0, 1.0, np.exp(np.minimum(x, 0) / alpha)).astype(x.dtype)


def gaussian_label(size: int, center_cells: tuple[float, float], sigma_cells: float) -> np.ndarray:
    """``[size, size]`` Gaussian peak at ``(row, col)`` = ``center_cells`` (cell units, may be fractional)."""
    cells = np.arange(size, dtype=np.float64)
    rows = np.exp(-0.5 * ((cells - center_cells[0]) / sigma_cells) ** 2)
    cols = np.exp(-0.5 * ((cells - center_cells[1]) / sigma_cells) ** 2)
    return np.outer(rows, cols).astype(np.float32)
