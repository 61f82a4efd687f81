"""pycuda's real API surface, read from its source: download the pinned sdist, parse what it registers.

pycuda cannot be imported without a CUDA driver (``pycuda._driver`` links ``libcuda``), so its API
is read from the source instead: the pinned sdist (``pycuda==2026.1``, the version
``../shared/tools/pycuda-carry.sh`` builds on the GPU machine) is downloaded once with
``pip download --no-deps --no-binary pycuda`` into the user cache
(``$EDGE_TRACKER_CACHE/pycuda-source``) and the parts needed are extracted:

- ``src/wrapper/*.cpp``: the Boost.Python registrations of ``pycuda._driver`` (``py::def``,
  ``DEF_SIMPLE_FUNCTION``, ``py::class_<...>("Name")`` and their ``.def``/``.add_property``/
  ``.def_readonly``/``.staticmethod``, ``py::enum_<...>("name").value(...)``,
  ``py::scope().attr(...)``, the exceptions), with the keyword names of ``py::arg``/``py::args``
  and the ``#if`` conditions each registration sits under;
- ``pycuda/*.py``: names defined in Python (``driver.py``: ``pagelocked_zeros``..., and the
  methods ``_add_functionality`` attaches to the C++ classes, ``Function.prepared_async_call``...;
  ``compiler.py``: ``SourceModule``...), with their signatures.

(``--no-binary :all:`` would also force pycuda's build requirements to be built from source, which
fails on a machine without autotools; ``--no-binary pycuda`` fetches the same sdist.)

Boost.Python conventions the parser relies on (read from ``boost/python``): keyword names declared
for a function name its trailing arguments; a function declared without names takes positional
arguments only (a keyword raises ``ArgumentError``). pycuda declares all of a function's arguments
when it declares any, and :class:`Params` assumes so.
"""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

from tests.tensorrt.api_surface import _split_top

VERSION = "2026.1"
REQUIREMENT = f"pycuda=={VERSION}"
WRAPPERS = ("wrap_cudadrv.cpp", "mempool.cpp", "wrap_cudagl.cpp", "wrap_curand.cpp")
# functions registered by a file only when pycuda is built with an option (``#ifdef HAVE_GL`` around the call)
OPTIONAL_FILES = {"wrap_cudagl.cpp": "HAVE_GL", "wrap_curand.cpp": "HAVE_CURAND"}
PY_MODULES = ("driver", "compiler", "autoinit", "autoprimaryctx", "gpuarray", "tools")


# --------------------------------------------------------------------------------------------------
# What a name is
# --------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Params:
    """How a function may be called.

    ``names`` None: declared without keyword names (C++): positional arguments only, count unknown.
    Otherwise the argument names (``self`` excluded for methods), ``required`` how many have no
    default, ``varargs``/``varkw`` whether ``*args``/``**kwargs`` are taken, and ``keywords`` the
    names a ``**kwargs`` accepts when its body pops them (None: any).
    """

    names: tuple[str, ...] | None = None
    required: int = 0
    varargs: bool = False
    varkw: bool = False
    keywords: tuple[str, ...] | None = None


@dataclass
class Member:
    name: str
    kind: str             # function, method, staticmethod, property, attribute, class, enum, value, exception
    origin: str           # file:line where it is really defined
    overloads: list[Params] = field(default_factory=list)
    condition: str = ""   # the #if/#ifdef conditions around a C++ registration ("" = always)


@dataclass
class ClassSurface:
    name: str
    origin: str
    members: dict[str, Member] = field(default_factory=dict)
    bases: list[str] = field(default_factory=list)      # Python class names
    getattr_enum: str | None = None                     # __getattr__ falls back to this enum's members (lower case)
    condition: str = ""

    def add(self, member: Member) -> None:
        if member.name in self.members:  # overloads (Device.__init__, Memcpy2D.__call__)
            self.members[member.name].overloads += member.overloads
        else:
            self.members[member.name] = member


@dataclass
class PycudaSurface:
    version: str
    root: Path
    modules: dict[str, dict[str, Member]] = field(default_factory=dict)  # "driver", "compiler", ... -> names
    classes: dict[str, ClassSurface] = field(default_factory=dict)       # every class and enum, by Python name

    def lookup(self, cls: str, name: str) -> Member | None:
        """``cls.name`` through the class, its bases, and its ``__getattr__`` fallback enum."""
        seen, todo = set(), [cls]
        while todo:
            current = self.classes.get(todo.pop(0))
            if current is None or current.name in seen:
                continue
            seen.add(current.name)
            if name in current.members:
                return current.members[name]
            todo += current.bases
        fallback = self.classes.get(cls)
        if fallback is not None and fallback.getattr_enum:
            enum = self.classes.get(fallback.getattr_enum)
            if enum is not None and name.upper() in enum.members:
                value = enum.members[name.upper()]
                return Member(name, "attribute", f"{value.origin} (via {cls}.__getattr__)", condition=value.condition)
        return None

    def counts(self) -> dict[str, int]:
        cpp = [m for m in self.modules.get("_driver", {}).values()]
        enums = [c for c in self.classes.values() if any(m.kind == "value" for m in c.members.values())]
        return {"_driver functions": sum(m.kind == "function" for m in cpp),
                "_driver classes": sum(m.kind == "class" for m in cpp),
                "_driver enums": sum(m.kind == "enum" for m in cpp),
                "enum values": sum(len(c.members) for c in enums),
                "class members": sum(len(c.members) for c in self.classes.values() if c not in enums),
                "driver names": len(self.modules.get("driver", {})),
                "compiler names": len(self.modules.get("compiler", {}))}


# --------------------------------------------------------------------------------------------------
# Download and extract
# --------------------------------------------------------------------------------------------------

def cache_root() -> Path:
    from edge_tracker.cache import cache_dir

    return cache_dir() / "pycuda-source"


def prepare() -> PycudaSurface | str:
    """The parsed surface of the pinned pycuda, or the reason the source cannot be had here."""
    root = cache_root() / VERSION
    source = root / "source"
    if not (source / "src" / "wrapper" / "wrap_cudadrv.cpp").is_file():
        reason = _download_and_extract(root, source)
        if reason:
            return reason
    return parse(source)


def _download_and_extract(root: Path, source: Path) -> str | None:
    sdist = root / "sdist"
    sdist.mkdir(parents=True, exist_ok=True)
    found = sorted(sdist.glob(f"pycuda-{VERSION}.tar.gz"))
    if not found:
        command = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", "pycuda",
                   "-d", str(sdist), REQUIREMENT]
        try:
            result = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
        except subprocess.TimeoutExpired:
            return f"pip download {REQUIREMENT} took over 10 minutes (is the package index reachable?)"
        found = sorted(sdist.glob(f"pycuda-{VERSION}.tar.gz"))
        if result.returncode != 0 or not found:
            last = (result.stderr.strip().splitlines() or ["no output"])[-1]
            return f"cannot download the {REQUIREMENT} sdist from the package index: {last}"
    partial = source.with_name("source.partial")
    shutil.rmtree(partial, ignore_errors=True)
    prefix = f"pycuda-{VERSION}/"
    with tarfile.open(found[0]) as archive:
        wanted = [m for m in archive.getmembers() if m.isfile() and m.name.startswith(prefix)
                  and (m.name.startswith(prefix + "src/") or re.fullmatch(rf"{re.escape(prefix)}pycuda/[^/]+\.py", m.name))]
        for member in wanted:
            member.name = member.name[len(prefix):]
        archive.extractall(partial, members=wanted, filter="data")
    if not (partial / "src" / "wrapper" / "wrap_cudadrv.cpp").is_file():
        return f"the {REQUIREMENT} sdist has no src/wrapper/wrap_cudadrv.cpp: an unexpected layout"
    shutil.rmtree(source, ignore_errors=True)
    partial.rename(source)
    return None


# --------------------------------------------------------------------------------------------------
# Parse
# --------------------------------------------------------------------------------------------------

def parse(source: Path) -> PycudaSurface:
    surface = PycudaSurface(VERSION, source)
    driver_cpp: dict[str, Member] = {}
    for name in WRAPPERS:
        path = source / "src" / "wrapper" / name
        if path.is_file():
            _CppFile(path, surface, driver_cpp, OPTIONAL_FILES.get(name, "")).parse()
    surface.modules["_driver"] = driver_cpp
    for module in PY_MODULES:
        path = source / "pycuda" / f"{module}.py"
        if path.is_file():
            surface.modules[module] = _parse_python(path, surface, driver_cpp if module == "driver" else {})
    return surface


class _CppFile:
    """Boost.Python registrations of one wrapper file."""

    def __init__(self, path: Path, surface: PycudaSurface, names: dict[str, Member], condition: str) -> None:
        self.path, self.surface, self.names, self.file_condition = path, surface, names, condition
        self.cpp_to_py: dict[str, str] = {}
        self.variables: dict[str, str] = {}  # wrp -> Python class name

    def parse(self) -> None:
        raw = self.path.read_text()
        self.text, self.conditions = _preprocess(raw)
        self.cl = ""
        for start, statement in _statements(self.text):
            self._statement(start, statement)

    def _where(self, offset: int) -> tuple[str, str]:
        line = self.text.count("\n", 0, offset) + 1
        conditions = [c for c in (self.file_condition, *self.conditions[line - 1]) if c]
        return f"src/wrapper/{self.path.name}:{line}", " && ".join(conditions)

    def _statement(self, start: int, s: str) -> None:
        typedef = re.search(r"typedef\s+(.+?)\s+cl\s*$", s, re.DOTALL)
        if typedef:
            self.cl = typedef.group(1).strip()
            return
        enum = re.search(r"enum_<[^;]*?>\s*\(\s*\"(\w+)\"", s)
        if enum:
            origin, condition = self._where(start + enum.start())
            cls = self.surface.classes.setdefault(enum.group(1), ClassSurface(enum.group(1), origin, condition=condition))
            self.names[enum.group(1)] = Member(enum.group(1), "enum", origin, condition=condition)
            for match in re.finditer(r"\.value\(\s*\"(\w+)\"", s):
                where, cond = self._where(start + match.start())
                cls.add(Member(match.group(1), "value", where, condition=cond))
            return
        cls_match = re.search(r"class_\s*<", s)
        if cls_match:
            self._class(start, s, cls_match)
            return
        head = re.match(r"\s*(\w+)\s*\.", s)
        if head and head.group(1) in self.variables:
            target = self.surface.classes[self.variables[head.group(1)]]
            attr = re.match(r"\s*\w+\.attr\(\s*\"(\w+)\"", s)
            if attr:
                where, cond = self._where(start)
                target.add(Member(attr.group(1), "attribute", where, condition=cond))
            else:
                self._members(start, s, head.end() - 1, target)
            return
        self._module_level(start, s)

    def _class(self, start: int, s: str, match: re.Match) -> None:
        template_end = _balanced(s, match.end() - 1, "<", ">")
        template = s[match.end():template_end - 1]
        after = re.match(r"\s*(\w+)?\s*\(\s*\"(\w+)\"", s[template_end:])
        if not after:
            return
        variable, name = after.group(1), after.group(2)
        origin, condition = self._where(start + match.start())
        cls = self.surface.classes.setdefault(name, ClassSurface(name, origin, condition=condition))
        self.cpp_to_py[self.cl or template.split(",")[0].strip()] = name
        cls.bases += [self.cpp_to_py.get(b.strip(), b.strip()) for b in re.findall(r"bases<\s*([\w:]+)\s*>", template)]
        self.names[name] = Member(name, "class", origin, condition=condition)
        ctor_open = template_end + after.group(0).index("(")
        ctor_end = _balanced(s, ctor_open, "(", ")")
        ctor = s[ctor_open + 1:ctor_end - 1]
        if "no_init" not in ctor:
            init = re.search(r"init<", ctor)
            params = _init_params(ctor[init.start():]) if init else Params(names=())
            cls.add(Member("__init__", "method", origin, [params], condition))
        if variable:
            self.variables[variable] = name
        self._members(start, s, ctor_end, cls)

    def _members(self, start: int, s: str, offset: int, cls: ClassSurface) -> None:
        for match in re.finditer(r"\.\s*(def|add_property|def_readonly|def_readwrite|staticmethod|DEF_SIMPLE_METHOD"
                                 r"|DEF_SIMPLE_METHOD_WITH_ARGS|DEF_SIMPLE_RO_MEMBER|DEF_SIMPLE_RW_MEMBER)\s*\(", s[offset:]):
            open_at = offset + match.end() - 1
            inner = s[open_at + 1:_balanced(s, open_at, "(", ")") - 1]
            kind = match.group(1)
            where, condition = self._where(start + offset + match.start())
            first = _split_top(inner)[0].strip()
            name = first.strip('"') if kind in ("def", "add_property", "def_readonly", "def_readwrite", "staticmethod") else first
            if kind == "def" and first.startswith(("py::init", "init")):
                cls.add(Member("__init__", "method", where, [_init_params(first)], condition))
                continue
            if not re.fullmatch(r"\w+", name):  # .def(py::self == py::self)
                continue
            if kind == "staticmethod":
                if name in cls.members:
                    cls.members[name].kind = "staticmethod"
                continue
            if kind in ("add_property", "def_readonly", "def_readwrite", "DEF_SIMPLE_RO_MEMBER", "DEF_SIMPLE_RW_MEMBER"):
                settable = kind in ("def_readwrite", "DEF_SIMPLE_RW_MEMBER") or len(_split_top(inner)) > 2
                cls.add(Member(name, "property" if not settable else "settable property", where, condition=condition))
                continue
            rest = ",".join(_split_top(inner)[1:]) if kind != "DEF_SIMPLE_METHOD_WITH_ARGS" else "py::args" + _split_top(inner)[1]
            cls.add(Member(name, "method", where, [_keyword_params(rest, method=True)], condition))

    def _module_level(self, start: int, s: str) -> None:
        exc = re.search(r"DECLARE_EXC\(\s*(\w+)", s)
        if exc:
            where, condition = self._where(start + exc.start())
            self.names[exc.group(1)] = Member(exc.group(1), "exception", where, condition=condition)
            return
        scope = re.search(r"scope\(\)\.attr\(\s*\"(\w+)\"\s*\)\s*=\s*(\w+)", s)
        if scope:
            where, condition = self._where(start + scope.start())
            kind = "class" if scope.group(2) in self.variables else "attribute"
            if kind == "class":  # HostAllocation = the PagelockedHostAllocation class under a second name
                self.surface.classes.setdefault(scope.group(1), ClassSurface(scope.group(1), where,
                                                                             bases=[self.variables[scope.group(2)]]))
            self.names[scope.group(1)] = Member(scope.group(1), kind, where, condition=condition)
            return
        for match in re.finditer(r"(?<![.\w])(?:py::|boost::python::)?(def|DEF_SIMPLE_FUNCTION|DEF_SIMPLE_FUNCTION_WITH_ARGS)\s*\(", s):
            open_at = match.end() - 1
            inner = s[open_at + 1:_balanced(s, open_at, "(", ")") - 1]
            parts = _split_top(inner)
            where, condition = self._where(start + match.start())
            if match.group(1) == "def":
                name, params = parts[0].strip().strip('"'), _keyword_params(",".join(parts[2:]), method=False)
            elif match.group(1) == "DEF_SIMPLE_FUNCTION":
                name, params = parts[0].strip(), Params()
            else:
                name, params = parts[0].strip(), _keyword_params("py::args" + parts[1], method=False)
            if re.fullmatch(r"\w+", name):
                if name in self.names:
                    self.names[name].overloads.append(params)
                else:
                    self.names[name] = Member(name, "function", where, [params], condition)


def _keyword_params(text: str, method: bool) -> Params:
    """Keyword names declared in ``text`` (``py::arg("a")=0, py::args("self", "b")``) as Params."""
    names, defaults = [], []
    for match in re.finditer(r"(?<![\w])(?:py::|boost::python::)?args?\s*\(", text):
        end = _balanced(text, match.end() - 1, "(", ")")
        group = re.findall(r"\"(\w+)\"", text[match.end():end - 1])
        has_default = bool(re.match(r"\s*=(?!=)", text[end:]))
        names += group
        defaults += [has_default] * len(group)
    if not names:
        return Params()
    if method and names[0] == "self":
        names, defaults = names[1:], defaults[1:]
    return Params(tuple(names), sum(not d for d in defaults))


def _init_params(text: str) -> Params:
    """``py::init<A, py::optional<B, C> >(names)``: the ``optional`` arguments need no value."""
    template = text[:_balanced(text, text.index("<"), "<", ">")]
    optional = re.search(r"optional\s*<", template)
    count = len(_split_top(template[optional.end():_balanced(template, optional.end() - 1, "<", ">") - 1])) if optional else 0
    params = _keyword_params(text[len(template):], method=False)
    if params.names is None:
        return params
    return Params(params.names, max(params.required - count, 0))


def _preprocess(raw: str) -> tuple[str, list[list[str]]]:
    """Comments removed, object-like ``#define``s of member chains expanded, directives blanked (line
    numbers kept); and per line, the ``#if`` conditions it sits under (both branches are kept)."""
    raw = re.sub(r"/\*.*?\*/", lambda m: "\n" * m.group(0).count("\n"), raw, flags=re.DOTALL)
    raw = re.sub(r"//[^\n]*", "", raw)
    lines = raw.split("\n")
    macros: dict[str, str] = {}
    out, conditions, stack = [], [], []
    index = 0
    while index < len(lines):
        line = lines[index]
        stripped = line.strip()
        conditions.append(list(stack))
        if stripped.startswith("#"):
            directive = stripped[1:].strip()
            block = [line]
            while block[-1].rstrip().endswith("\\") and index + 1 < len(lines):
                index += 1
                block.append(lines[index])
                conditions.append(list(stack))
            define = re.match(r"define\s+(\w+)(?!\()\s*(.*)", " ".join(b.rstrip().rstrip("\\") for b in block).strip()[1:].strip())
            # a member-chain macro defined in both #if branches: keep the fuller one
            if define and define.group(2).strip().startswith(".") \
                    and len(define.group(2)) > len(macros.get(define.group(1), "")):
                macros[define.group(1)] = define.group(2)
            if directive.startswith(("if", "ifdef", "ifndef")):
                stack.append(directive)
            elif directive.startswith("else") and stack:
                stack[-1] = f"!({stack[-1]})"
            elif directive.startswith("elif") and stack:
                stack[-1] = directive
            elif directive.startswith("endif") and stack:
                stack.pop()
            out += [""] * len(block)
        else:
            out.append(line)
        index += 1
    text = "\n".join(out)
    for name, body in macros.items():
        text = re.sub(rf"\b{name}\b(?!\s*\()", lambda _m, b=body: b.replace("\n", " "), text)
    return text, conditions


def _statements(text: str):
    """``(offset, text)`` of each statement: split at ``;``, ``{`` and ``}`` outside parentheses and strings."""
    depth, start, index, quote = 0, 0, 0, None
    while index < len(text):
        char = text[index]
        if quote:
            if char == "\\":
                index += 1
            elif char == quote:
                quote = None
        elif char in "\"'":
            quote = char
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char in ";{}" and depth == 0:
            yield start, text[start:index]
            start = index + 1
        index += 1
    yield start, text[start:]


def _balanced(text: str, open_at: int, opening: str, closing: str) -> int:
    """Index just past the bracket that closes the one at ``open_at``."""
    depth = 0
    for index in range(open_at, len(text)):
        if text[index] == opening:
            depth += 1
        elif text[index] == closing and not (closing == ">" and text[index - 1] == "-"):
            depth -= 1
            if depth == 0:
                return index + 1
    return len(text)


# --------------------------------------------------------------------------------------------------
# The Python side
# --------------------------------------------------------------------------------------------------

def _parse_python(path: Path, surface: PycudaSurface, star: dict[str, Member]) -> dict[str, Member]:
    """Names a pycuda Python module defines (plus ``star``: what it imports with ``from pycuda._driver import *``)."""
    tree = ast.parse(path.read_text())
    where = lambda node: f"pycuda/{path.name}:{node.lineno}"
    names = dict(star) if any(isinstance(n, ast.ImportFrom) and n.module == "pycuda._driver"
                              and any(a.name == "*" for a in n.names) for n in ast.walk(tree)) else {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            names[node.name] = Member(node.name, "function", where(node), [_signature(node, method=False)])
        elif isinstance(node, ast.ClassDef):
            cls = surface.classes.setdefault(node.name, ClassSurface(node.name, where(node)))
            cls.bases += [b.id for b in node.bases if isinstance(b, ast.Name) and b.id != "object"]
            for item in node.body:
                if isinstance(item, ast.FunctionDef):
                    static = any(isinstance(d, ast.Name) and d.id == "staticmethod" for d in item.decorator_list)
                    cls.add(Member(item.name, "staticmethod" if static else "method", where(item),
                                   [_signature(item, method=not static)]))
            names[node.name] = Member(node.name, "class", where(node))
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
                if isinstance(target, ast.Name):
                    names[target.id] = Member(target.id, "attribute", where(node))
    for node in tree.body:  # _add_functionality(): Python functions attached to the C++ classes
        if isinstance(node, ast.FunctionDef) and node.name == "_add_functionality":
            _attachments(node, surface, where)
    return names


def _attachments(function: ast.FunctionDef, surface: PycudaSurface, where) -> None:
    """``Class.name = nested_function`` in ``_add_functionality``; of ``if``s, the first branch
    (``get_version() >= (4,)``: every CUDA since 4.0; the other branch is for older drivers)."""
    nested = {n.name: n for n in function.body if isinstance(n, ast.FunctionDef)}

    def walk(statements):
        for node in statements:
            if isinstance(node, ast.If):
                walk(node.body)
            elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Name) and node.value.id in nested:
                for target in node.targets:
                    if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name) \
                            and target.value.id in surface.classes:
                        defined = nested[node.value.id]
                        cls = surface.classes[target.value.id]
                        if target.attr == "__getattr__":
                            cls.getattr_enum = _getattr_enum(defined)
                        cls.members[target.attr] = Member(target.attr, "method", where(defined),
                                                          [_signature(defined, method=True)])

    walk(function.body)


def _getattr_enum(function: ast.FunctionDef) -> str | None:
    """The enum a ``__getattr__`` looks names up in: ``getattr(<enum>, name.upper())``."""
    for node in ast.walk(function):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "getattr" \
                and len(node.args) == 2 and isinstance(node.args[0], ast.Name) and isinstance(node.args[1], ast.Call) \
                and isinstance(node.args[1].func, ast.Attribute) and node.args[1].func.attr == "upper":
            return node.args[0].id
    return None


def _signature(node: ast.FunctionDef, method: bool) -> Params:
    args = node.args
    positional = [a.arg for a in args.posonlyargs + args.args]
    if method and positional:
        positional = positional[1:]
    names = tuple(positional + [a.arg for a in args.kwonlyargs])
    required = len(positional) - len(args.defaults) + sum(d is None for d in args.kw_defaults)
    keywords = None
    if args.kwarg is not None:  # kwargs.pop("shared_size", 0) ...: the names the body takes out of **kwargs
        popped = [c.args[0].value for c in ast.walk(node) if isinstance(c, ast.Call) and isinstance(c.func, ast.Attribute)
                  and isinstance(c.func.value, ast.Name) and c.func.value.id == args.kwarg.arg
                  and c.func.attr in ("pop", "get") and c.args and isinstance(c.args[0], ast.Constant)]
        keywords = tuple(popped) if popped else None
    return Params(names, max(required, 0), args.vararg is not None, args.kwarg is not None, keywords)
