"""The house's layering: the runtime (``edge_tracker``) is the ground floor, and nothing imports in a circle.

- ``edge_tracker`` imports nothing from ``export``, ``training``, ``calibration``, ``benchmarks`` or
  ``tests`` at module level (the PyTorch reference backend and the on-demand demo export are reached
  lazily, through ``edge_tracker.backends.BACKENDS`` and ``edge_tracker.demo.demo_export``).
- No import cycle among the project's modules, counting every import statement, module-level or
  inside a function (a lazy import in a circle is still a circle in the design).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO_ROOT

PACKAGES = ("edge_tracker", "export", "training", "calibration", "jetson", "benchmarks")
UPPER_FLOORS = ("export", "training", "calibration", "benchmarks", "tests")
# The runtime's lazy entry points to the build side, each the one sanctioned arrow up (DESIGN.md,
# "Layering"): they run only when a user asks for what needs them, and are left out of the cycle walk.
LAZY_ENTRY_POINTS = {
    ("edge_tracker.demo", "export.build"): "building a demo export (and its precision variants) on first use",
    ("edge_tracker.backends.trt_loader", "export.tensorrt"): "building missing TensorRT engines on the device",
    ("edge_tracker.backends.trt_loader", "export.tensorrt.engines"): "building missing TensorRT engines on the device",
    ("edge_tracker.backends.trt_loader", "export.tensorrt_support"): "TensorRT's feature table, on --backend trt",
}


def _module_files() -> dict[str, Path]:
    modules = {}
    for package in PACKAGES:
        for path in (REPO_ROOT / package).rglob("*.py"):
            parts = list(path.relative_to(REPO_ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join(parts)] = path
    return modules


def _imports(path: Path, module: str, known: set[str]) -> list[tuple[str, bool]]:
    """``(imported project module, at module level?)`` for every import statement in ``path``."""
    tree = ast.parse(path.read_text(), str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    top_level = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
        for name in names:
            while name and name not in known:  # `import a.b.c` of a name inside a module: the module
                name = name.rpartition(".")[0]
            if name and name != module:
                found.append((name, id(node) in top_level))
    return found


def _graph() -> tuple[dict[str, list[tuple[str, bool]]], dict[str, Path]]:
    files = _module_files()
    return {m: _imports(p, m, set(files)) for m, p in files.items()}, files


def test_the_runtime_reaches_the_build_side_only_through_its_lazy_entry_points():
    graph, _ = _graph()
    lazy = {(module, target) for module, edges in graph.items() if module.split(".")[0] == "edge_tracker"
            for target, top in edges if not top and target.split(".")[0] in UPPER_FLOORS}
    assert lazy <= set(LAZY_ENTRY_POINTS), sorted(lazy - set(LAZY_ENTRY_POINTS))


def test_the_runtime_imports_no_upper_floor_at_module_level():
    graph, _ = _graph()
    offenders = [f"{module} -> {target}" for module, edges in graph.items() if module.split(".")[0] == "edge_tracker"
                 for target, top in edges if top and target.split(".")[0] in UPPER_FLOORS]
    assert offenders == []


def test_no_import_cycle_anywhere():
    graph, _ = _graph()
    edges = {m: sorted({t for t, top in targets if top or (m, t) not in LAZY_ENTRY_POINTS})
             for m, targets in graph.items()}
    cycles = [sorted(c) for c in _strongly_connected(edges) if len(c) > 1]
    assert cycles == [], f"import cycles: {cycles}"


def test_the_cycle_finder_finds_a_cycle():
    """The check above can fail: a two-module circle and a three-module one are both found."""
    edges = {"a": ["b"], "b": ["a"], "c": ["d"], "d": ["e"], "e": ["c"], "f": ["a"]}
    assert sorted(sorted(c) for c in _strongly_connected(edges) if len(c) > 1) == [["a", "b"], ["c", "d", "e"]]


def test_importing_the_runtime_and_its_cli_loads_no_build_side_module():
    code = ("import sys, edge_tracker, edge_tracker.cli, edge_tracker.session, edge_tracker.evaluation.cli\n"
            f"print(sorted(m for m in sys.modules if m.split('.')[0] in {UPPER_FLOORS!r}))")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_no_module_is_over_400_lines_without_saying_why():
    _, files = _graph()
    long = []
    for module, path in files.items():
        text = path.read_text()
        lines = len(text.splitlines())
        if lines > 400 and "400 lines" not in text[:3000]:  # the docstring says why it is longer
            long.append(f"{module} ({lines} lines)")
    assert long == []


def _strongly_connected(edges: dict[str, list[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative (the project's graph is deep enough to matter for recursion)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components = []
    counter = 0
    for root in edges:
        if root in index:
            continue
        work = [(root, iter(edges.get(root, ())))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(edges.get(child, ()))))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                components.append(component)
    return components
