"""The package's import graph: no circle anywhere, and the co-speech rooms import downwards only.

The graph is read from the source with ``ast`` (nothing is imported): every ``import`` and
``from ... import`` at module level AND inside functions (a lazy import still ties two modules),
relative imports resolved. ``from pkg import name`` is an edge to ``pkg.name`` when that is a
module, else to ``pkg``. Importing ``a.b.c`` runs ``a/__init__`` and ``a/b/__init__`` first, so
the importer also depends on those packages (except its own ancestors, already running).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"


def module_files(root: Path, package: str) -> dict[str, Path]:
    """``{dotted name: file}`` of every module of ``package`` under ``root``."""
    out = {}
    for p in sorted((root / package).rglob("*.py")):
        parts = list(p.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = p
    return out


def import_graph(root: Path, package: str) -> dict[str, set[str]]:
    """``{module: the modules of the package it imports}`` (see the module docstring)."""
    mods = module_files(root, package)

    def owner(name: str) -> str | None:  # the module (or package) that ``name`` lives in
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name or None

    edges: dict[str, set[str]] = {m: set() for m in mods}
    for mod, path in mods.items():
        is_pkg = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = mod.split(".") if is_pkg else mod.split(".")[:-1]
                    base = base[: len(base) - node.level + 1]
                    source = ".".join(base + ([node.module] if node.module else []))
                else:
                    source = node.module or ""
                targets = [f"{source}.{a.name}" if f"{source}.{a.name}" in mods else source for a in node.names]
            for t in targets:
                found = owner(t) if t.split(".")[0] == package else None
                if found and found != mod:
                    edges[mod].add(found)
    for mod in mods:
        own = {".".join(mod.split(".")[:i]) for i in range(1, mod.count(".") + 2)}
        for t in list(edges[mod]):
            parts = t.split(".")
            edges[mod] |= {".".join(parts[:i]) for i in range(1, len(parts))} - own
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for start in sorted(edges):
        if start in index:
            continue
        work = [(start, iter(sorted(edges[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(edges[w]))))
                elif w in on_stack:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    found.append(sorted(comp))
    return sorted(found)


def _write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)


def test_the_graph_sees_lazy_relative_and_package_imports(tmp_path: Path) -> None:
    _write(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/a.py": "def f():\n    from pkg.b import g\n",  # a lazy import is an edge
        "pkg/b.py": "from . import c\n",  # relative, and a module named in `from . import`
        "pkg/c.py": "import numpy\n",
        "pkg/sub/__init__.py": "from pkg.sub.x import y\n",
        "pkg/sub/x.py": "y = 1\n",
        "pkg/d.py": "from pkg.sub.x import y\n",  # runs pkg/sub/__init__ too
    })  # fmt: skip
    g = import_graph(tmp_path, "pkg")
    assert g["pkg.a"] == {"pkg.b"}
    assert g["pkg.b"] == {"pkg.c"}
    assert g["pkg.c"] == set()
    assert g["pkg.d"] == {"pkg.sub", "pkg.sub.x"}
    assert g["pkg.sub.x"] == set()
    assert cycles(g) == []


def test_a_circle_through_a_lazy_import_is_found(tmp_path: Path) -> None:
    _write(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/a.py": "from pkg.b import g\n",
        "pkg/b.py": "def g():\n    from pkg import a\n",
        "pkg/c.py": "from pkg.d import x\n",
        "pkg/d/__init__.py": "from pkg.d.y import x\n",
        "pkg/d/y.py": "def x():\n    import pkg.c\n",  # back through the package's __init__
    })  # fmt: skip
    assert cycles(import_graph(tmp_path, "pkg")) == [["pkg.a", "pkg.b"], ["pkg.c", "pkg.d", "pkg.d.y"]]


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    return import_graph(SRC, "gesturekit")


def test_no_import_circle_in_gesturekit(graph: dict[str, set[str]]) -> None:
    assert len(graph) > 100  # the whole package was read
    assert cycles(graph) == []


def _imports_under(graph: dict[str, set[str]], importer: str, target: str) -> list[str]:
    return sorted(
        f"{m} -> {t}"
        for m, ts in graph.items()
        if m == importer or m.startswith(importer + ".")
        for t in ts
        if t == target or t.startswith(target + ".")
    )


#: (importer, what it must never import): the import direction of docs/design.md
FORBIDDEN = [
    ("gesturekit.render", "gesturekit.cospeech"),
    ("gesturekit.skeleton", "gesturekit.cospeech"),
    ("gesturekit.io", "gesturekit.cospeech"),
    ("gesturekit.store", "gesturekit.cospeech"),
    ("gesturekit.cospeech.data", "gesturekit.cospeech.models"),
    ("gesturekit.cospeech.data", "gesturekit.cospeech.training"),
    ("gesturekit.cospeech.data", "gesturekit.cospeech.inference"),
    ("gesturekit.cospeech.data", "gesturekit.cospeech.evaluation"),
    ("gesturekit.cospeech.models", "gesturekit.cospeech.training"),
    ("gesturekit.cospeech.models", "gesturekit.cospeech.inference"),
    ("gesturekit.cospeech.models", "gesturekit.cospeech.evaluation"),
    ("gesturekit.cospeech.inference", "gesturekit.cospeech.training"),
    ("gesturekit.cospeech.evaluation", "gesturekit.cospeech.training"),
    ("gesturekit.cospeech.evaluation", "gesturekit.cospeech.inference"),
    ("gesturekit.cospeech.evaluation", "gesturekit.cospeech.models"),
    ("gesturekit.cospeech.evaluation", "gesturekit.cospeech.data"),
]


@pytest.mark.parametrize(("importer", "target"), FORBIDDEN)
def test_imports_go_downwards(graph: dict[str, set[str]], importer: str, target: str) -> None:
    assert _imports_under(graph, importer, target) == []
