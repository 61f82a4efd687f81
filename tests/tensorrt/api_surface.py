"""A checker of our TensorRT calls against the API surface of TensorRT's real Python bindings.

This is **not TensorRT and not a test of TensorRT**. The bindings' extension module imports with
stub libraries (``bindings.py``) but cannot run anything. :class:`Surface` wraps that real module
and runs *our* code paths against it: every attribute our code reads must exist in the bindings
(classes, methods, properties, enum members), every call must match one of the method's real
signatures (argument count, keyword names, TensorRT types of the arguments), every property we set
must be settable and take the type we give it. Calls return placeholders shaped by the method's
declared return type, or the values a scenario gives (an engine's I/O), so our code can go on
along the path its version dispatch takes. What the checker cannot say: whether TensorRT would
accept the values, or what it would compute; the ``gpu`` tests and the Jetson self-test do that.

Enum members, ``Dims`` and pure helpers (``nptype``) are the bindings' own objects; classes we
subclass (``ILogger``, ``IInt8EntropyCalibrator2``) are the real classes, so our overrides are
checked against the real base methods' argument names (:meth:`Surface.check_overrides`).
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from typing import Any

PURE_FUNCTIONS = {"nptype", "volume"}  # module functions that need no library: called for real


class Surface:
    """Records every TensorRT name used (``calls``) and every mismatch (``problems``)."""

    def __init__(self, real, values: dict[str, Callable[..., Any]] | None = None) -> None:
        self.real = real
        self.values = dict(values or {})  # "Class.member" -> function of the call's arguments -> value
        self.calls: set[str] = set()
        self.problems: list[str] = []
        self.module = SurfaceModule(self)

    def use(self, text: str) -> None:
        self.calls.add(text)

    def problem(self, text: str) -> None:
        if text not in self.problems:
            self.problems.append(text)

    # ----------------------------------------------------------------- values of calls and properties
    def value(self, owner: str, name: str, annotation: str, args: tuple = ()) -> Any:
        key = f"{owner}.{name}"
        if key in self.values:
            return self.values[key](*args)
        return self.placeholder(annotation)

    def placeholder(self, annotation: str) -> Any:
        annotation = annotation.strip()
        simple = {"None": None, "bool": True, "int": 1, "float": 1.0, "str": "tensor", "object": None}
        if annotation in simple:
            return simple[annotation]
        if re.fullmatch(r"(typing\.)?[Ll]ist\[.*\]", annotation):
            return []
        if annotation.endswith("Buffer") or annotation == "buffer":
            return b""
        cls = self.real_class(annotation)
        if cls is None:
            return None
        if hasattr(cls, "__members__"):
            return next(iter(cls.__members__.values()))
        return SurfaceObject(self, cls)

    def real_class(self, annotation: str):
        """The bindings' class an annotation names (``tensorrt_bindings.tensorrt.X``, ``nvinfer1::IX``), or None."""
        if "tensorrt" not in annotation and "::" not in annotation:
            return None
        parts = re.split(r"\.|::", annotation.strip())
        for start in range(len(parts)):  # nested classes: ILogger.Severity
            obj = self.real
            for part in parts[start:]:
                obj = getattr(obj, part, None) or getattr(obj, part[1:] if part.startswith("I") else "", None)
                if obj is None:
                    break
            if isinstance(obj, type):
                return obj
        return None

    # ----------------------------------------------------------------- calls
    def check_call(self, owner: str, name: str, function, args: tuple, kwargs: dict, bound: bool) -> str:
        """Match a call against the real signatures; return the annotation of the matched one's result."""
        if inspect.isfunction(function):  # written in Python in the bindings' package (nptype)
            try:
                bound_args = inspect.signature(function).bind(*args, **kwargs)
            except TypeError as err:
                self.problem(f"{owner}.{name}: {err}")
                return "object"
            self.use(f"{owner}.{name}({', '.join(bound_args.arguments)})")
            return "object"
        signatures = parse_signatures(getattr(function, "__doc__", "") or "", name)
        if not signatures:
            self.problem(f"{owner}.{name}: the bindings give no signature to check the call against")
            return "object"
        failures = []
        for params, result in signatures:
            if bound and params and params[0][0] in ("self", "arg0"):
                params = params[1:]
            reason = self._match(params, args, kwargs)
            if reason is None:
                names = [p[0] for p in params[:len(args)]] + [f"{k}=" for k in kwargs]
                self.use(f"{owner}.{name}({', '.join(names)})")
                return result
            failures.append(reason)
        self.problem(f"{owner}.{name}: the call with {len(args)} positional argument(s) and keywords "
                     f"{sorted(kwargs)} matches none of its signatures ({'; '.join(failures)})")
        return "object"

    def _match(self, params: list[tuple[str, str, bool]], args: tuple, kwargs: dict) -> str | None:
        if len(args) > len(params):
            return f"takes {len(params)} argument(s)"
        filled = {p[0]: value for p, value in zip(params, args, strict=False)}
        for key, value in kwargs.items():
            if key not in {p[0] for p in params}:
                return f"no argument named {key!r} (it has {[p[0] for p in params]})"
            if key in filled:
                return f"{key!r} given twice"
            filled[key] = value
        for pname, annotation, has_default in params:
            if pname not in filled:
                if not has_default:
                    return f"argument {pname!r} missing"
                continue
            reason = self.type_mismatch(annotation, filled[pname])
            if reason:
                return f"{pname}: {reason}"
        return None

    def type_mismatch(self, annotation: str, value) -> str | None:
        """Why ``value`` cannot be passed where ``annotation`` is declared (TensorRT types only), or None."""
        cls = self.real_class(annotation)
        if cls is None:
            if annotation in ("int", "typing.SupportsInt") and not isinstance(value, int):
                return f"expected an int, got {type(value).__name__}"
            if annotation == "str" and not isinstance(value, str):
                return f"expected a str, got {type(value).__name__}"
            return None
        if isinstance(value, SurfaceObject):
            kinds = [c.__name__ for c in value.real_class.__mro__]
        else:
            kinds = [c.__name__ for c in type(value).__mro__]
        if cls.__name__ == "Dims" and isinstance(value, tuple | list):
            return None
        if cls.__name__ not in kinds:
            return f"expected a {cls.__name__}, got a {kinds[0]}"
        return None

    # ----------------------------------------------------------------- our subclasses of TensorRT's interfaces
    def check_overrides(self, ours: type) -> None:
        """Every method our subclass defines exists on its real TensorRT base, with the same argument names."""
        base = next(c for c in ours.__mro__[1:] if c.__module__.startswith("tensorrt"))
        for name, member in vars(ours).items():
            if name.startswith("__") or not callable(member):
                continue
            real = getattr(base, name, None)
            if real is None:
                self.problem(f"{base.__name__}.{name}: our {ours.__name__} overrides a method the base does not have")
                continue
            mine = [p for p in inspect.signature(member).parameters][1:]
            theirs = [p[0] for p in (parse_signatures(real.__doc__ or "", name) or [([], "")])[0][0]][1:]
            if mine != theirs:
                self.problem(f"{base.__name__}.{name}: ours takes {mine}, TensorRT's takes {theirs}")
            else:
                self.use(f"{base.__name__}.{name}({', '.join(theirs)}) [overridden]")


class SurfaceModule:
    """Stands where ``tensorrt`` stands in our code; every attribute is looked up in the bindings."""

    def __init__(self, surface: Surface) -> None:
        self._surface = surface

    def __getattr__(self, name: str):
        surface, real = self._surface, self._surface.real
        if name in ("__version__", "__name__"):  # what a module says of itself (the product is told by its name)
            return getattr(real, name)
        if not hasattr(real, name):
            surface.problem(f"tensorrt.{name} does not exist")
            return Missing(f"tensorrt.{name}")
        obj = getattr(real, name)
        if hasattr(obj, "__members__"):
            return SurfaceEnum(surface, name, obj)
        if isinstance(obj, type):
            return SurfaceClass(surface, obj)
        if name in PURE_FUNCTIONS:
            def call(*args, **kwargs):
                surface.check_call("tensorrt", name, obj, args, kwargs, bound=False)
                return obj(*args, **kwargs)
            return call
        return SurfaceMethod(surface, "tensorrt", name, obj, bound=False)


class SurfaceEnum:
    """A TensorRT enum: members are the real ones; a missing member is a problem."""

    def __init__(self, surface: Surface, path: str, real) -> None:
        self._surface, self._path, self._real = surface, path, real

    def __getattr__(self, name: str):
        if name not in self._real.__members__:
            self._surface.problem(f"{self._path}.{name} does not exist (members: {list(self._real.__members__)})")
            return Missing(f"{self._path}.{name}")
        self._surface.use(f"{self._path}.{name}")
        return self._real.__members__[name]


class SurfaceClass:
    """A TensorRT class: constructing it checks ``__init__``; subclassing it gives the real class."""

    def __init__(self, surface: Surface, real) -> None:
        self._surface, self.real_class = surface, real

    def __call__(self, *args, **kwargs):
        self._surface.check_call(self.real_class.__name__, "__init__", self.real_class.__init__, args, kwargs, bound=True)
        self._surface.use(f"tensorrt.{self.real_class.__name__}")
        return SurfaceObject(self._surface, self.real_class)

    def __mro_entries__(self, bases):
        self._surface.use(f"tensorrt.{self.real_class.__name__} [subclassed]")
        return (self.real_class,)

    def __getattribute__(self, name: str):
        if name == "__init__":  # trt.ILogger.__init__(self) in our subclasses: the real one
            real = object.__getattribute__(self, "real_class")
            object.__getattribute__(self, "_surface").use(f"{real.__name__}.__init__(self)")
            return real.__init__
        return object.__getattribute__(self, name)

    def __getattr__(self, name: str):
        obj = getattr(self.real_class, name, None)
        path = f"{self.real_class.__name__}.{name}"
        if obj is None:
            self._surface.problem(f"{path} does not exist")
            return Missing(path)
        if hasattr(obj, "__members__"):
            return SurfaceEnum(self._surface, path, obj)
        self._surface.use(path)
        return obj


class SurfaceObject:
    """An instance of a TensorRT class as our code sees it: members checked, results typed by the bindings."""

    def __init__(self, surface: Surface, real_class, values: dict[str, Any] | None = None) -> None:
        object.__setattr__(self, "_surface", surface)
        object.__setattr__(self, "real_class", real_class)
        object.__setattr__(self, "_values", dict(values or {}))  # this object's property values

    def _member(self, name: str):
        member = getattr(self.real_class, name, None)
        if member is None:
            self._surface.problem(f"{self.real_class.__name__}.{name} does not exist")
        return member

    def __getattr__(self, name: str):
        member = self._member(name)
        owner = self.real_class.__name__
        if member is None:
            return Missing(f"{owner}.{name}")
        if isinstance(member, property):
            self._surface.use(f"{owner}.{name} (read)")
            if name in self._values:
                return self._values[name]
            result = (parse_signatures(member.fget.__doc__ or "", "") or [([], "object")])[0][1]
            return self._surface.value(owner, name, result)
        return SurfaceMethod(self._surface, owner, name, member, bound=True)

    def __setattr__(self, name: str, value) -> None:
        member = self._member(name)
        owner = self.real_class.__name__
        if member is None:
            return
        if not isinstance(member, property) or member.fset is None:
            self._surface.problem(f"{owner}.{name} cannot be set")
            return
        params = (parse_signatures(member.fset.__doc__ or "", "") or [([], "")])[0][0]
        reason = self._surface.type_mismatch(params[-1][1], value) if params else None
        if reason:
            self._surface.problem(f"{owner}.{name} = ...: {reason}")
        self._surface.use(f"{owner}.{name} (set)")

    def __bytes__(self) -> bytes:
        owner = self.real_class.__name__
        if "buffer protocol" not in (self.real_class.__doc__ or ""):
            self._surface.problem(f"bytes({owner}): the bindings do not document a buffer interface for it")
        self._surface.use(f"{owner} (buffer protocol)")
        return bytes(16)

    def __str__(self) -> str:
        owner = self.real_class.__name__
        if "__str__" not in vars(self.real_class):
            self._surface.problem(f"str({owner}): the class defines no __str__; it would print its repr")
        self._surface.use(f"{owner}.__str__")
        return f"<{owner}>"


class SurfaceMethod:
    """A TensorRT method or function: its call is checked against the real signatures."""

    def __init__(self, surface: Surface, owner: str, name: str, real, bound: bool) -> None:
        self._surface, self._owner, self._name, self._real, self._bound = surface, owner, name, real, bound

    def __call__(self, *args, **kwargs):
        result = self._surface.check_call(self._owner, self._name, self._real, args, kwargs, self._bound)
        return self._surface.value(self._owner, self._name, result, args)


class Missing:
    """What a missing name gives back (already reported): absorbs whatever our code does next."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __getattr__(self, name: str) -> Missing:
        return self

    def __call__(self, *args, **kwargs) -> Missing:
        return self

    def __int__(self) -> int:
        return 0

    def __iter__(self):
        return iter(())


def parse_signatures(doc: str, name: str) -> list[tuple[list[tuple[str, str, bool]], str]]:
    """pybind11 signatures in a docstring -> ``[([(argument, annotation, has default)], result annotation)]``.

    ``name(self: T, a: A, b: B = 0) -> R`` lines, numbered for overloads; ``name`` "" reads a
    property's ``(arg0: T) -> R`` line.
    """
    found = []
    pattern = re.compile(rf"^\s*(?:\d+\.\s*)?{re.escape(name)}\(", re.MULTILINE)
    for match in pattern.finditer(doc):
        start = match.end()
        depth, index = 1, start
        while index < len(doc) and depth:
            depth += {"(": 1, "[": 1, "<": 1, ")": -1, "]": -1, ">": -1}.get(doc[index], 0)
            if doc[index] == ">" and doc[index - 1] == "-":  # "->" inside a default's repr is not a bracket
                depth += 1
            index += 1
        inner, rest = doc[start:index - 1], doc[index:]
        if inner.strip() in ("*args, **kwargs",):
            continue
        result = rest.split("\n", 1)[0].strip()
        result = result[2:].strip() if result.startswith("->") else "None"
        params = []
        for part in _split_top(inner):
            part = part.strip()
            if not part:
                continue
            pname, _, annotation = part.partition(":")
            has_default = False
            if " = " in annotation:
                annotation, has_default = annotation.split(" = ", 1)[0], True
            params.append((pname.strip(), annotation.strip(), has_default))
        found.append((params, result))
    return found


def _split_top(text: str) -> list[str]:
    """``text`` split at its top-level commas (not inside brackets or quotes); used by pycuda_source too."""
    parts, depth, current, quote = [], 0, [], None
    for char in text:
        if quote:
            quote = None if char == quote else quote
        elif char in "\"'":
            quote = char
        elif char in "([<":
            depth += 1
        elif char in ")]>":
            depth -= 1
        if char == "," and depth == 0 and not quote:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts
