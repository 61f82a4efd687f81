"""Bringing pytracking's trained networks over: a pickle reader that runs no code from the file
(``unpickler``) and the ATOM importer (``atom``), reached by ``python -m export import-pytracking``."""

from __future__ import annotations

from export.pytracking.atom import ImportResult, import_pytracking_atom
from export.pytracking.unpickler import UnsafePickleError, read_torch_pickle

__all__ = ["ImportResult", "UnsafePickleError", "import_pytracking_atom", "read_torch_pickle"]
