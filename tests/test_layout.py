"""The shape of the code: modules of at most ~400 lines, no import cycles, and the layers (the
engine imports none of the service, the clients and the benchmarks).

Every ``import`` counts, also those inside functions (a lazy import still ties two modules
together). Each failure lists the offenders. Modules that other work is still changing are
allow-listed below, each with the reason; an entry that no longer applies fails the test too,
so the lists only shrink.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: the packages whose layout is checked
PACKAGES = ("covering", "service", "clients", "bench")
MAX_LINES = 400

#: the packages each package may import (itself and these)
LAYERS = {
    "covering": set(),
    "service": {"covering"},
    "clients": {"covering"},
    # benchmarks measure everything: the engine, the service's load, the training client
    "bench": {"covering", "service", "clients"},
}

#: modules allowed to be longer for now (path: why)
LONG_ALLOWED: dict[str, str] = {}

#: import cycles allowed for now, each as the sorted tuple of its modules
CYCLES_ALLOWED: dict[tuple[str, ...], str] = {}


def _modules() -> dict[str, Path]:
    """Dotted module name -> file, for every ``.py`` file of :data:`PACKAGES`."""
    out: dict[str, Path] = {}
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = path
    return out


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The modules of ``known`` that ``name`` imports (anywhere in the file)."""
    is_pkg = path.name == "__init__.py"
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: from the package of this module
                base = name.split(".")
                base = base[: len(base) - node.level + (1 if is_pkg else 0)]
                mod = ".".join([*base, node.module] if node.module else base)
            else:
                mod = node.module or ""
            targets = [mod]
            # ``from pkg import sub`` imports the submodule ``pkg.sub`` when there is one
            targets += [f"{mod}.{a.name}" for a in node.names if f"{mod}.{a.name}" in known]
        for t in targets:
            # ``import a.b.c`` runs the module a.b.c: the nearest known module is the edge
            while t and t not in known:
                t = t.rpartition(".")[0]
            if t and t != name:
                out.add(t)
    return out


def _cycles(graph: dict[str, set[str]]) -> list[tuple[str, ...]]:
    """Strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[tuple[str, ...]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(tuple(sorted(comp)))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def _graph() -> dict[str, set[str]]:
    mods = _modules()
    known = set(mods)
    return {name: _imports(name, path, known) for name, path in mods.items()}


def test_no_import_cycles() -> None:
    cycles = _cycles(_graph())
    new = [c for c in cycles if c not in CYCLES_ALLOWED]
    assert not new, "import cycles (imports inside functions count too):\n" + "\n".join(
        " <-> ".join(c) for c in new
    )
    stale = [c for c in CYCLES_ALLOWED if c not in cycles]
    assert not stale, f"allow-listed cycles that are gone (drop them from the list): {stale}"


def test_layers() -> None:
    wrong = sorted(
        f"{name} imports {dep}"
        for name, deps in _graph().items()
        for dep in deps
        if (top := dep.split(".")[0]) != name.split(".")[0]
        and top not in LAYERS[name.split(".")[0]]
    )
    assert not wrong, "imports across layers: " + "; ".join(wrong)


def test_modules_are_small() -> None:
    sizes = {
        str(path.relative_to(ROOT)): len(path.read_text().splitlines())
        for path in _modules().values()
    }
    long = {p: n for p, n in sizes.items() if n > MAX_LINES and p not in LONG_ALLOWED}
    assert not long, f"modules over {MAX_LINES} lines: " + ", ".join(
        f"{p} ({n})" for p, n in sorted(long.items(), key=lambda kv: -kv[1])
    )
    stale = [p for p in LONG_ALLOWED if sizes.get(p, 0) <= MAX_LINES]
    assert not stale, f"allow-listed modules now short or gone (drop them from the list): {stale}"


@pytest.mark.parametrize(
    ("graph", "cycles"),
    [
        ({"a": {"b"}, "b": {"a"}, "c": {"a"}}, [("a", "b")]),
        ({"a": {"b"}, "b": {"c"}, "c": set()}, []),
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"d"}}, [("a", "b", "c")]),
    ],
)
def test_cycle_finder(graph: dict[str, set[str]], cycles: list[tuple[str, ...]]) -> None:
    assert _cycles(graph) == cycles


def test_imports_inside_functions_count(tmp_path: Path) -> None:
    src = tmp_path / "m.py"
    src.write_text("def f():\n    from pkg import sub\n    import pkg.other.deep\n")
    known = {"pkg", "pkg.sub", "pkg.other", "m"}
    assert _imports("m", src, known) == {"pkg", "pkg.sub", "pkg.other"}
