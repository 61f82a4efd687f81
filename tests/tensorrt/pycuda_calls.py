"""Every pycuda name our code uses, collected from its source (AST), and checked against pycuda's surface.

Our convention makes most of it readable without running anything: ``cuda`` always names
``pycuda.driver`` (``import pycuda.driver as cuda``, ``import_gpu_runtime()[1]``), and the pycuda
objects we hold are made by calls whose result class is known (``cuda.Stream()``,
``cuda.mem_alloc(n)`` -> ``DeviceAllocation``, ``SourceModule(...).get_function(n)`` ->
``Function``). :class:`Collector` follows assignments (locals, tuple unpacking, ``self.x`` across
a class's methods, dict values, ``for`` over a tuple) to know what each variable holds; what it
cannot infer is given to it explicitly (``Typing``: a table in the test, kept small). Each use is
a :class:`Use` (``driver.memcpy_htod_async(3 positional)``, ``Stream.synchronize()``,
``Stream.handle``), and :func:`check` says which of them pycuda's real surface lacks, or whose
keywords or argument counts it refuses.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path

from tests.tensorrt.pycuda_source import Params, PycudaSurface

DRIVER = "driver"          # the type of pycuda.driver itself
CLASSREF = "classref:"     # a pycuda class (not an instance): classref:Device
OURS = "ours:"             # one of our classes: ours:CudaDevice


@dataclass(frozen=True)
class Use:
    where: str                       # path:line
    owner: str                       # "driver", "compiler" or a pycuda class
    name: str
    call: bool = False
    positional: int = 0
    keywords: tuple[str, ...] = ()
    starred: bool = False            # *args in the call: the count is not known

    def __str__(self) -> str:
        if not self.call:
            return f"{self.owner}.{self.name}"
        args = [f"{self.positional} positional"] if self.positional else []
        args += [f"{k}=" for k in self.keywords] + (["*args"] if self.starred else [])
        return f"{self.owner}.{self.name}({', '.join(args)})"


@dataclass
class Typing:
    """What the collector is told rather than infers (see the test's table)."""

    names: dict[str, str] = field(default_factory=dict)       # a variable's name anywhere -> type (cuda -> driver)
    attributes: dict[tuple[str, str], str] = field(default_factory=dict)  # (our class, attribute) -> type
    returns: dict[tuple[str, str], str] = field(default_factory=dict)     # (pycuda owner, callable) -> result type
    imports: dict[str, str] = field(default_factory=dict)     # "pycuda.compiler.SourceModule" -> classref:SourceModule


class Collector:
    """Walks our modules; :attr:`uses` holds every pycuda name used, in source order."""

    def __init__(self, surface: PycudaSurface, typing: Typing) -> None:
        self.surface, self.typing = surface, typing
        self.class_attributes: dict[str, dict[str, object]] = {}
        self.uses: list[Use] = []
        self._record = False
        self._where = ""

    def collect(self, files: dict[str, str]) -> list[Use]:
        """``files``: {path shown in reports: source text}. Three passes: attribute types settle, then uses are recorded."""
        trees = {path: ast.parse(text) for path, text in files.items()}
        for final in (False, False, True):
            self._record = final
            for path, tree in trees.items():
                self._path = path
                self._block(tree.body, {}, None)
        unique, seen = [], set()
        for use in self.uses:
            if use not in seen:
                seen.add(use)
                unique.append(use)
        return unique

    # ----------------------------------------------------------------- statements
    def _block(self, statements, env: dict, cls: str | None) -> None:
        for node in statements:
            self._statement(node, env, cls)

    def _statement(self, node, env: dict, cls: str | None) -> None:
        self._where = f"{self._path}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, ast.ClassDef):
            self.class_attributes.setdefault(node.name, {})
            self._block(node.body, dict(env), node.name)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            inner = dict(env)
            arguments = node.args.posonlyargs + node.args.args + node.args.kwonlyargs
            for index, arg in enumerate(arguments):
                inner[arg.arg] = self._annotation(arg.annotation) or self.typing.names.get(arg.arg)
                if index == 0 and cls is not None and not any(isinstance(d, ast.Name) and d.id in ("staticmethod", "classmethod")
                                                              for d in node.decorator_list):
                    inner[arg.arg] = OURS + cls
            for default in node.args.defaults + [d for d in node.args.kw_defaults if d is not None]:
                self._type(default, env)
            self._block(node.body, inner, None)
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("pycuda"):
            for alias in node.names:
                known = self.typing.imports.get(f"{node.module}.{alias.name}")
                if known:
                    env[alias.asname or alias.name] = known
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "pycuda.driver" and alias.asname:
                    env[alias.asname] = DRIVER
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            value = self._type(node.value, env) if node.value is not None else None
            for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
                self._assign(target, value, env)
        elif isinstance(node, ast.For | ast.AsyncFor):
            self._assign(node.target, self._element(node.iter, env), env)
            self._block(node.body + node.orelse, env, cls)
        else:
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.expr):
                    self._type(child, env)
                elif isinstance(child, ast.stmt):
                    self._statement(child, env, cls)
                elif isinstance(child, ast.ExceptHandler | ast.withitem | ast.match_case):
                    for sub in ast.iter_child_nodes(child):
                        if isinstance(sub, ast.expr):
                            self._type(sub, env)
                        elif isinstance(sub, ast.stmt):
                            self._statement(sub, env, cls)

    def _annotation(self, annotation) -> object:
        if isinstance(annotation, ast.Name) and annotation.id in self.class_attributes:
            return OURS + annotation.id
        return None

    def _assign(self, target, value, env: dict) -> None:
        if isinstance(target, ast.Name):
            if value is not None or target.id not in self.typing.names:
                env[target.id] = value
        elif isinstance(target, ast.Tuple | ast.List):
            parts = value[1] if isinstance(value, tuple) and value[0] == "tuple" else [None] * len(target.elts)
            for element, part in zip(target.elts, parts, strict=False):
                self._assign(element, part, env)
        elif isinstance(target, ast.Attribute):
            owner = self._type(target.value, env)
            if isinstance(owner, str) and owner.startswith(OURS) and value is not None:
                self.class_attributes.setdefault(owner[len(OURS):], {})[target.attr] = value
        elif isinstance(target, ast.Subscript):  # self._outputs[key] = cuda.mem_alloc(...)
            self._type(target.slice, env)
            if isinstance(target.value, ast.Attribute) and value is not None:
                owner = self._type(target.value.value, env)
                if isinstance(owner, str) and owner.startswith(OURS):
                    self.class_attributes.setdefault(owner[len(OURS):], {})[target.value.attr] = ("items", value)

    def _element(self, iterable, env: dict):
        """The type of what a ``for`` over ``iterable`` yields, when every element has the same one."""
        if isinstance(iterable, ast.Tuple | ast.List):
            kinds = set()
            for element in iterable.elts:
                kind = self._type(element.value if isinstance(element, ast.Starred) else element, env)
                if isinstance(element, ast.Starred):
                    kind = kind[1] if isinstance(kind, tuple) and kind[0] == "items" else None
                kinds.add(kind)
            kinds.discard(None)
            return kinds.pop() if len(kinds) == 1 else None
        kind = self._type(iterable, env)
        return kind[1] if isinstance(kind, tuple) and kind[0] == "items" else None

    # ----------------------------------------------------------------- expressions
    def _type(self, node, env: dict):
        """The type of ``node`` (DRIVER, a pycuda class name, CLASSREF+name, OURS+name, ("tuple", [...]),
        ("items", T), ("method", owner, name)) or None; records the pycuda names it uses."""
        if isinstance(node, ast.Name):
            if node.id in env:
                return env[node.id]
            return self.typing.names.get(node.id)
        if isinstance(node, ast.Attribute):
            return self._attribute(self._type(node.value, env), node.attr)
        if isinstance(node, ast.Call):
            return self._call(node, env)
        if isinstance(node, ast.Tuple):
            return ("tuple", tuple(self._type(e, env) for e in node.elts))
        if isinstance(node, ast.DictComp):
            for generator in node.generators:
                self._type(generator.iter, env)
            self._type(node.key, env)
            return ("items", self._type(node.value, env))
        if isinstance(node, ast.Subscript):
            value = self._type(node.value, env)
            self._type(node.slice, env)
            if isinstance(value, tuple) and value[0] == "items":
                return value[1]
            if isinstance(value, tuple) and value[0] == "tuple" and isinstance(node.slice, ast.Constant) \
                    and isinstance(node.slice.value, int) and -len(value[1]) <= node.slice.value < len(value[1]):
                return value[1][node.slice.value]
            return None
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.expr):
                self._type(child, env)
            elif isinstance(child, ast.comprehension):
                self._type(child.iter, env)
        return None

    def _attribute(self, owner, name: str):
        if owner == DRIVER:
            self._use(DRIVER, name)
            if name in self.surface.classes:
                return CLASSREF + name
            return ("method", DRIVER, name)
        if isinstance(owner, str) and owner.startswith(CLASSREF):
            cls = owner[len(CLASSREF):]
            self._use(cls, name)
            return ("method", cls, name)
        if isinstance(owner, str) and owner.startswith(OURS):
            ours = owner[len(OURS):]
            if (ours, name) in self.typing.attributes:
                return self.typing.attributes[(ours, name)]
            return self.class_attributes.get(ours, {}).get(name)
        if isinstance(owner, str) and owner in self.surface.classes:  # an instance of a pycuda class
            self._use(owner, name)
            member = self.surface.lookup(owner, name)
            if member is not None and "property" in member.kind or member is not None and member.kind == "attribute":
                return self.typing.returns.get((owner, name))
            return ("method", owner, name)
        if isinstance(owner, tuple) and owner[0] == "items" and name in ("get", "values"):
            return ("items-method", owner[1], name)
        return None

    def _call(self, node: ast.Call, env: dict):
        function = self._type(node.func, env)
        args = [self._type(a.value if isinstance(a, ast.Starred) else a, env) for a in node.args]
        for keyword in node.keywords:
            self._type(keyword.value, env)
        starred = any(isinstance(a, ast.Starred) for a in node.args) or any(k.arg is None for k in node.keywords)
        keywords = tuple(k.arg for k in node.keywords if k.arg is not None)
        if isinstance(node.func, ast.Name) and node.func.id == "int" and len(args) == 1 \
                and isinstance(args[0], str) and args[0] in self.surface.classes:
            self._use(args[0], "__int__", call=True)  # int(allocation): the device address
            return None
        if isinstance(function, str) and function.startswith(CLASSREF):
            cls = function[len(CLASSREF):]
            self._use(cls, "__init__", True, len(node.args), keywords, starred)
            return cls
        if isinstance(function, tuple) and function[0] == "method":
            _, owner, name = function
            owner_name = owner if owner != DRIVER else DRIVER
            self._use(owner_name, name, True, len(node.args), keywords, starred)
            return self.typing.returns.get((owner_name, name))
        if isinstance(function, tuple) and function[0] == "items-method":
            return function[1] if function[2] == "get" else ("items", function[1])
        return None

    def _use(self, owner: str, name: str, call: bool = False, positional: int = 0, keywords=(), starred=False) -> None:
        if not self._record:
            return
        if call and self.uses and self.uses[-1] == Use(self._where, owner, name):
            self.uses.pop()  # the attribute read that the call is made on
        self.uses.append(Use(self._where, owner, name, call, positional, tuple(keywords), starred))


# --------------------------------------------------------------------------------------------------
# The check
# --------------------------------------------------------------------------------------------------

def check(uses: list[Use], surface: PycudaSurface) -> list[str]:
    """What pycuda's surface lacks or refuses, one line per problem (empty: every use conforms)."""
    problems = []
    for use in uses:
        if use.owner == DRIVER:
            member = surface.modules["driver"].get(use.name)
            label = f"pycuda.driver.{use.name}"
        else:
            member = surface.lookup(use.owner, use.name)
            label = f"pycuda {use.owner}.{use.name}"
        if member is None:
            problems.append(f"{use.where}: {label} does not exist in pycuda {surface.version}")
            continue
        if _only_sometimes(member.condition):
            problems.append(f"{use.where}: {label} exists only when {member.condition} ({member.origin})")
        if not use.call:
            continue
        if not member.overloads:
            if member.kind not in ("class", "method", "function"):
                problems.append(f"{use.where}: {label} is a {member.kind} ({member.origin}), not callable")
            continue
        reasons = [_refused(params, use) for params in member.overloads]
        if all(reasons):
            problems.append(f"{use.where}: {label} called with {use} is refused: {'; '.join(sorted(set(reasons)))} "
                            f"({member.origin})")
    return problems


def _only_sometimes(condition: str) -> bool:
    """Registrations that a current pycuda build may lack: optional modules, or removed in newer CUDA."""
    return any(flag in condition for flag in ("HAVE_GL", "HAVE_CURAND", "!(", "CUDA_VERSION <"))


def _refused(params: Params, use: Use) -> str:
    """Why a call does not fit ``params``, or "" when it does."""
    if params.names is None:
        return f"it takes positional arguments only, got keywords {list(use.keywords)}" if use.keywords else ""
    for keyword in use.keywords:
        if keyword in params.names:
            if params.names.index(keyword) < use.positional:
                return f"{keyword!r} given both by position and by name"
        elif not params.varkw:
            return f"no argument named {keyword!r} (it has {list(params.names)})"
        elif params.keywords is not None and keyword not in params.keywords:
            return f"its **kwargs takes only {list(params.keywords)}, not {keyword!r}"
    if use.starred:
        return ""
    if use.positional > len(params.names) and not params.varargs:
        return f"{use.positional} positional arguments, it takes at most {len(params.names)}"
    given = use.positional + sum(k in params.names[use.positional:params.required] for k in use.keywords)
    if given < params.required:
        return f"argument(s) {list(params.names[given:params.required])} missing"
    return ""


def read_files(root: Path, paths: list[str]) -> dict[str, str]:
    return {path: (root / path).read_text() for path in paths}
