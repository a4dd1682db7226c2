"""The layout shows the data flow, and the code keeps to it (docs/architecture.md).

Every import in the package -- at module level or inside a function (a lazy import is still a
dependency) -- must point to a module of the same layer or a lower one, in this order:

    base utilities -> io -> phases -> deltas -> shapes -> quantity -> description
      -> inference/ -> settings -> verdict -> tidy -> analysis -> multi (and across, the
      family analysis of a multi-model run) -> render/ -> measure/ -> studies/ -> cli/

(measure/ produces the inputs and needs none of the analysis; studies/ call the pipeline; the
CLI is the thin layer on top). Modules of one layer may import each other, without cycles.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "gaugetest"

LAYERS = (
    ("gaugetest._version", "gaugetest.errors", "gaugetest._util", "gaugetest.formatting",
     "gaugetest.parallel"),
    ("gaugetest.io",),
    ("gaugetest.phases",),
    ("gaugetest.deltas",),
    ("gaugetest.shapes",),
    ("gaugetest.quantity",),
    ("gaugetest.description",),
    ("gaugetest.inference",),
    ("gaugetest.settings",),
    ("gaugetest.verdict",),
    ("gaugetest.tidy",),
    ("gaugetest.analysis",),
    ("gaugetest.multi", "gaugetest.across"),
    ("gaugetest.render",),
    ("gaugetest.measure",),
    ("gaugetest.studies",),
    ("gaugetest.cli",),
    ("gaugetest.__main__", "gaugetest"),     # the package facade (lazy re-exports) on top
)

#: No module longer than this many lines: a reader holds each in their head.
MAX_LINES = 600


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PKG.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(PKG.rglob("*.py"))}


def layer_of(mod: str) -> int:
    best = None
    for i, names in enumerate(LAYERS):
        for n in names:
            if (mod == n or mod.startswith(n + ".")) and (best is None or len(n) > best[1]):
                best = (i, len(n))
    if best is None:
        raise AssertionError(f"{mod} is in no layer of tests/test_architecture.py: add it")
    return best[0]


def imports_of(mod: str) -> set[str]:
    """Every gaugetest module that ``mod`` imports, lazily or not (TYPE_CHECKING-only imports
    excluded: they are annotations, not dependencies)."""
    path = MODULES[mod]
    tree = ast.parse(path.read_text())
    is_pkg = path.name == "__init__.py"
    type_only = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            type_only |= {id(n) for n in ast.walk(node)}
    out = set()
    for node in ast.walk(tree):
        if id(node) in type_only:
            continue
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.split(".")[0] == "gaugetest"}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = mod.split(".") if is_pkg else mod.split(".")[:-1]
                base = base[:len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "gaugetest":
                continue
            for a in node.names:        # `from . import x` imports the submodule x
                sub = f"{target}.{a.name}"
                out.add(sub if sub in MODULES else target)
    return {m for m in out if m in MODULES and m != mod}


GRAPH = {m: imports_of(m) for m in MODULES}


def test_every_module_has_a_layer():
    for m in MODULES:
        layer_of(m)


@pytest.mark.parametrize("mod", sorted(MODULES))
def test_imports_run_downwards(mod):
    up = [t for t in GRAPH[mod] if layer_of(t) > layer_of(mod)]
    assert not up, f"{mod} imports {up}, which sit above it in the data flow"


def test_no_import_cycles():
    seen, stack, cycles = set(), [], []

    def visit(m):
        if m in stack:
            cycles.append(stack[stack.index(m):] + [m])
            return
        if m in seen:
            return
        seen.add(m)
        stack.append(m)
        for t in sorted(GRAPH[m]):
            if not (m == "gaugetest" or t == "gaugetest"):   # the facade's lazy re-exports
                visit(t)
        stack.pop()

    for m in sorted(GRAPH):
        visit(m)
    assert not cycles, f"import cycles: {cycles}"


@pytest.mark.parametrize("mod", sorted(MODULES))
def test_modules_stay_short(mod):
    n = MODULES[mod].read_text().count("\n")
    assert n <= MAX_LINES, f"{MODULES[mod].relative_to(PKG.parent)} has {n} lines (> {MAX_LINES})"
