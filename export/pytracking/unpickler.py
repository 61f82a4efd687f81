"""Reading pytracking's pickled checkpoints (``torch.save`` files) without running code from them.

A pickle names functions and classes by module and name, and unpickling calls them: plain
``torch.load(weights_only=False)`` on a stranger's file can run anything. ``weights_only=True``
refuses pytracking's files outright, because they hold instances of pytracking's own classes
(``ltr.admin.model_constructor.NetConstructor``, or ``dlframework.common.utils...`` in files from
before pytracking's rename).

``read_torch_pickle`` keeps torch's file handling (zip archives and the older sequential format,
storages as persistent ids) and swaps the unpickler: every global the pickle names goes through
``RestrictedUnpickler.find_class``, which is the only way a pickle can reach a callable. It admits

- what a state dict needs: the tensor rebuild functions of ``torch._utils``, storage classes,
  ``torch.Size``, ``collections.OrderedDict``, plain containers and numbers, numpy scalars (an
  ``epoch`` saved as ``numpy.int64``), ``_codecs.encode`` for latin-1 only (protocol-2 bytes);
- pytracking's classes (modules ``ltr``, ``pytracking``, ``dlframework``), as ``PytrackingObject``
  placeholders: pytracking is never imported and none of its code runs;

and refuses everything else with ``UnsafePickleError`` naming the module and the class, before the
object is created. ``trust=True`` (the CLI's ``--trust-pickle``) resolves every other global normally,
for a file whose origin the user trusts; pytracking's classes still become placeholders, so pytracking
need not be installed.
"""

from __future__ import annotations

import _compat_pickle
import codecs
import pickle
import tarfile
import types
import zipfile
from pathlib import Path
from typing import Any

from edge_tracker.deps import require
from edge_tracker.errors import CheckpointError

PYTRACKING_MODULES = ("ltr", "pytracking", "dlframework")

# (module, name) -> (importable module, attribute); the attribute is fetched only when named
_ALLOWED = {
    ("torch._utils", "_rebuild_tensor"): ("torch._utils", "_rebuild_tensor"),
    ("torch._utils", "_rebuild_tensor_v2"): ("torch._utils", "_rebuild_tensor_v2"),
    ("torch._utils", "_rebuild_parameter"): ("torch._utils", "_rebuild_parameter"),
    ("torch", "Size"): ("torch", "Size"),
    ("collections", "OrderedDict"): ("collections", "OrderedDict"),
    **{("builtins", name): ("builtins", name)
       for name in ("dict", "list", "tuple", "set", "frozenset", "int", "float", "complex", "bool",
                    "str", "bytes", "bytearray")},
    ("numpy", "dtype"): ("numpy", "dtype"),
}
# numpy 1 pickles name numpy.core, numpy 2 numpy._core; both resolve to the installed numpy's scalar
_NUMPY_SCALAR = (("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"))


class UnsafePickleError(CheckpointError):
    """A pickle named a global that the restricted unpickler does not admit."""


class PytrackingObject:
    """An inert stand-in for an instance of one of pytracking's classes.

    It records what unpickling hands it (constructor arguments, the ``__setstate__`` state, items
    appended or set) and does nothing else: no pytracking code is imported or run.
    """

    pickled_class = "?"  # "module.Name" as the pickle named it (set on each generated subclass)

    def __new__(cls, *args: Any, **kwargs: Any) -> PytrackingObject:  # noqa: PYI034 - typing.Self is 3.11+
        obj = object.__new__(cls)
        obj.args, obj.kwargs, obj.state, obj.items = args, kwargs, None, []
        return obj

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass  # __new__ kept the arguments; pickle's REDUCE calls the class itself

    def __setstate__(self, state: Any) -> None:
        self.state = state

    def append(self, item: Any) -> None:
        self.items.append(item)

    def extend(self, items: Any) -> None:
        self.items.extend(items)

    def __setitem__(self, key: Any, value: Any) -> None:
        self.items.append((key, value))

    def attributes(self) -> dict[str, Any]:
        """The pickled instance attributes (pickle's BUILD state; ``(dict, slots)`` merged)."""
        state = self.state
        if isinstance(state, tuple) and len(state) == 2 and all(s is None or isinstance(s, dict) for s in state):
            return {**(state[0] or {}), **(state[1] or {})}
        return dict(state) if isinstance(state, dict) else {}

    def __repr__(self) -> str:
        return f"<placeholder for {self.pickled_class}>"


def python3_name(module: str, name: str) -> tuple[str, str]:
    """Python 2 names (``__builtin__.set``) as Python 3's: protocol-2 pickles, torch.save's default, use them.

    ``pickle.Unpickler.find_class`` does this itself (``fix_imports``); an override must do it too.
    """
    if (module, name) in _compat_pickle.NAME_MAPPING:
        return _compat_pickle.NAME_MAPPING[(module, name)]
    return _compat_pickle.IMPORT_MAPPING.get(module, module), name


def is_pytracking_module(module: str) -> bool:
    return module.split(".")[0] in PYTRACKING_MODULES


class _PlaceholderClasses:
    """One placeholder class per pytracking class named in a file (the same class each time)."""

    def __init__(self) -> None:
        self._classes: dict[str, type] = {}

    def get(self, module: str, name: str) -> type:
        qualified = f"{module}.{name}"
        if qualified not in self._classes:
            self._classes[qualified] = type(name.replace(".", "_"), (PytrackingObject,),
                                            {"pickled_class": qualified, "__module__": __name__})
        return self._classes[qualified]


class RestrictedUnpickler(pickle.Unpickler):
    """``pickle.Unpickler`` that admits only a state dict's globals (see the module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._placeholders = _PlaceholderClasses()

    def find_class(self, module: str, name: str) -> Any:
        module, name = python3_name(module, name)
        if is_pytracking_module(module):
            return self._placeholders.get(module, name)
        if (module, name) == ("_codecs", "encode"):
            return _latin1_encode
        if module == "torch" and name.endswith("Storage") and "." not in name:
            return _attribute("torch", name)  # torch.FloatStorage etc.: typed storage classes
        if (module, name) in _ALLOWED:
            return _attribute(*_ALLOWED[(module, name)])
        if (module, name) in _NUMPY_SCALAR:
            return _numpy_scalar()
        raise UnsafePickleError(
            f"refused to unpickle '{module}.{name}': a pytracking checkpoint needs only tensors, "
            f"containers, numbers and pytracking's own classes, and this global could run code. If "
            f"you trust where the file comes from, re-run with --trust-pickle (full unpickling).")


class TrustingUnpickler(pickle.Unpickler):
    """Full unpickling (``--trust-pickle``), except that pytracking's classes become placeholders."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._placeholders = _PlaceholderClasses()

    def find_class(self, module: str, name: str) -> Any:
        if is_pytracking_module(module):
            return self._placeholders.get(module, name)
        return super().find_class(module, name)


def _pickle_module(unpickler: type[pickle.Unpickler]) -> types.SimpleNamespace:
    """What ``torch.load(pickle_module=...)`` reads: ``Unpickler``, ``load`` and ``__name__``."""

    def load(file: Any, **kwargs: Any) -> Any:
        return unpickler(file, **kwargs).load()

    return types.SimpleNamespace(__name__=f"{__name__}.{unpickler.__name__}", Unpickler=unpickler, load=load)


def read_torch_pickle(path: str | Path, trust: bool = False) -> Any:
    """The object a ``torch.save`` file holds, on the CPU; restricted unless ``trust``.

    Raises UnsafePickleError for a refused global and CheckpointError for an unreadable file.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"pytracking checkpoint not found: {path}")
    _refuse_other_containers(path)
    torch = require("torch")
    unpickler = TrustingUnpickler if trust else RestrictedUnpickler
    try:
        return torch.load(path, map_location="cpu", pickle_module=_pickle_module(unpickler),
                          weights_only=False, mmap=False)
    except UnsafePickleError as err:
        raise UnsafePickleError(f"{path}: {err}") from None
    except CheckpointError:
        raise
    except Exception as err:  # torch and pickle raise many types for a torn or foreign file
        raise CheckpointError(
            f"{path} is not a readable torch.save checkpoint (truncated, corrupt, or another format): "
            f"{type(err).__name__}: {err}") from err


def _refuse_other_containers(path: Path) -> None:
    """TorchScript archives and the pre-1.0 tar format take other torch code paths: not pytracking files."""
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            if any(name == "constants.pkl" or name.endswith("/constants.pkl") for name in archive.namelist()):
                raise CheckpointError(
                    f"{path} is a TorchScript archive, not a torch.save checkpoint of pytracking's; "
                    f"give the .pth file the pytracking training or download produced")
    elif tarfile.is_tarfile(path):
        raise CheckpointError(
            f"{path} is a tar archive (PyTorch's format before 1.0, older than pytracking); "
            f"load and re-save it with a current torch.save first")


def _attribute(module: str, name: str) -> Any:
    return getattr(require(module), name)


def _numpy_scalar() -> Any:
    numpy = require("numpy")
    try:
        return require("numpy._core.multiarray").scalar  # numpy >= 2
    except ImportError:
        return numpy.core.multiarray.scalar


def _latin1_encode(text: str, encoding: str = "utf-8", errors: str = "strict") -> bytes:
    """``_codecs.encode`` as protocol-2 pickles of ``bytes`` use it, for latin-1 only.

    Other encodings are refused rather than looked up: a codec name can reach any codec registered
    in the process.
    """
    if not isinstance(encoding, str) or encoding.lower().replace("_", "-") not in ("latin1", "latin-1"):
        raise UnsafePickleError(f"refused to unpickle '_codecs.encode' with encoding {encoding!r} "
                                f"(bytes in a torch.save pickle are latin-1)")
    return codecs.encode(text, "latin-1", "strict")
