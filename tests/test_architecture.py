"""Layering and size rules of the code base, read from the source with ``ast`` (nothing is imported).

Rules (issue 9):

* every module of ``infonas`` and ``search_spaces`` has at most 400 lines, every class at most 250;
* no import cycles among those modules, counting imports at module level and inside functions
  (``if TYPE_CHECKING:`` blocks import nothing at run time and are left out of cycles only);
* ``search_spaces`` imports nothing from ``infonas`` but ``infonas.exceptions``;
* ``infonas.surrogates`` never imports ``infonas.evaluators``, and vice versa;
* only the CLI modules (``infonas.cli*``) import the CLI.

``from pkg import name`` counts as importing ``pkg.name`` when that is a module, else ``pkg``. A
package ``__init__`` importing its own submodules is not a cycle (Python runs the ``__init__``
first, whatever imports a submodule). ``infonas/__init__.py`` maps public names to modules in a
string table read on first attribute access; it holds no import statement, so it adds no edge.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("infonas", "search_spaces")
MAX_MODULE_LINES = 400
MAX_CLASS_LINES = 250


@dataclass(frozen=True)
class Import:
    """One import statement's edge: ``source`` imports ``target`` at ``line``."""

    source: str
    target: str
    line: int
    type_checking: bool  # inside ``if TYPE_CHECKING:``: never executed

    def __str__(self) -> str:
        return f"{self.source} -> {self.target} (line {self.line})"


@dataclass(frozen=True)
class Module:
    name: str
    path: Path
    is_package: bool
    source: str

    @functools.cached_property
    def tree(self) -> ast.Module:
        return ast.parse(self.source, filename=str(self.path))

    @property
    def relative_path(self) -> str:
        return str(self.path.relative_to(ROOT))


def discover(root: Path = ROOT, packages: tuple[str, ...] = PACKAGES) -> dict[str, Module]:
    """Every ``.py`` file of ``packages`` under ``root``, by dotted module name."""
    modules: dict[str, Module] = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            is_package = parts[-1] == "__init__"
            if is_package:
                parts.pop()
            name = ".".join(parts)
            modules[name] = Module(name, path, is_package, path.read_text(encoding="utf-8"))
    return modules


@functools.lru_cache(maxsize=1)
def project_modules() -> dict[str, Module]:
    return discover()


def _known_prefix(dotted: str, known: dict[str, Module]) -> str | None:
    """The longest prefix of ``dotted`` that is a project module (``None``: a third-party import)."""
    parts = dotted.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in known:
            return candidate
    return None


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_nodes(tree: ast.AST) -> Iterator[tuple[ast.Import | ast.ImportFrom, bool]]:
    """Every import statement anywhere in ``tree`` (functions and classes included), with whether
    it sits under ``if TYPE_CHECKING:``."""

    def walk(node: ast.AST, type_checking: bool) -> Iterator[tuple[ast.Import | ast.ImportFrom, bool]]:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node, type_checking
            return
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.body:
                yield from walk(child, True)
            for child in node.orelse:
                yield from walk(child, type_checking)
            return
        for child in ast.iter_child_nodes(node):
            yield from walk(child, type_checking)

    yield from walk(tree, False)


def imports_of(module: Module, known: dict[str, Module]) -> list[Import]:
    """The project modules ``module`` imports, one ``Import`` per imported module and statement."""
    edges: list[Import] = []
    for node, type_checking in _import_nodes(module.tree):
        targets: list[str | None] = []
        if isinstance(node, ast.Import):
            targets = [_known_prefix(alias.name, known) for alias in node.names]
        else:
            if node.level:
                # Relative: level 1 is the module's own package (the module itself for an __init__).
                anchor = module.name.split(".")
                drop = node.level - 1 if module.is_package else node.level
                anchor = anchor[: len(anchor) - drop] if drop else anchor
                base = ".".join(anchor + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            for alias in node.names:
                child = f"{base}.{alias.name}"
                targets.append(child if child in known else _known_prefix(base, known))
        for target in dict.fromkeys(targets):
            if target is not None and target != module.name:
                edges.append(Import(module.name, target, node.lineno, type_checking))
    return edges


def import_graph(known: dict[str, Module]) -> dict[str, list[Import]]:
    """Run-time import edges between project modules, less a package's edges to its own submodules."""
    graph: dict[str, list[Import]] = {}
    for name, module in known.items():
        graph[name] = [
            edge
            for edge in imports_of(module, known)
            if not edge.type_checking and not (module.is_package and edge.target.startswith(name + "."))
        ]
    return graph


def find_cycles(graph: dict[str, list[Import]]) -> list[list[Import]]:
    """One shortest cycle (as its chain of imports) through each strongly connected component."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def connect(node: str) -> None:  # Tarjan; recursion depth is bounded by the module count
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for edge in graph.get(node, []):
            if edge.target not in index:
                connect(edge.target)
                low[node] = min(low[node], low[edge.target])
            elif edge.target in on_stack:
                low[node] = min(low[node], index[edge.target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            components.append(component)

    for node in sorted(graph):
        if node not in index:
            connect(node)

    cycles = []
    for component in components:
        members = set(component)
        if len(members) < 2:
            continue
        start = min(members)
        # Breadth-first from ``start`` inside the component back to ``start``: a shortest cycle.
        parent: dict[str, Import] = {}
        frontier = [start]
        found: Import | None = None
        while frontier and found is None:
            following = []
            for node in frontier:
                for edge in graph[node]:
                    if edge.target == start:
                        found = edge
                        break
                    if edge.target in members and edge.target not in parent:
                        parent[edge.target] = edge
                        following.append(edge.target)
                if found is not None:
                    break
            frontier = following
        assert found is not None
        chain = [found]
        while chain[0].source != start:
            chain.insert(0, parent[chain[0].source])
        cycles.append(chain)
    return cycles


def _in(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


# ----- the rules -----


def test_modules_are_at_most_400_lines() -> None:
    too_long = [
        f"{m.relative_path}: {len(m.source.splitlines())} lines"
        for m in project_modules().values()
        if len(m.source.splitlines()) > MAX_MODULE_LINES
    ]
    assert not too_long, f"modules over {MAX_MODULE_LINES} lines (split them by job): " + "; ".join(too_long)


def test_classes_are_at_most_250_lines() -> None:
    too_long = []
    for module in project_modules().values():
        for node in ast.walk(module.tree):
            if isinstance(node, ast.ClassDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_CLASS_LINES:
                    too_long.append(f"{module.relative_path}:{node.lineno} class {node.name}: {length} lines")
    assert not too_long, f"classes over {MAX_CLASS_LINES} lines (move a job out): " + "; ".join(too_long)


def test_no_import_cycles() -> None:
    cycles = find_cycles(import_graph(project_modules()))
    described = [" -> ".join([chain[0].source] + [f"{e.target} (line {e.line})" for e in chain]) for chain in cycles]
    assert not cycles, "import cycles (move the shared code down a layer): " + "; ".join(described)


def test_search_spaces_imports_only_the_exceptions_of_infonas() -> None:
    known = project_modules()
    bad = [
        str(edge)
        for name, module in known.items()
        if _in(name, "search_spaces")
        for edge in imports_of(module, known)
        if _in(edge.target, "infonas") and edge.target != "infonas.exceptions"
    ]
    assert not bad, "search_spaces may import only infonas.exceptions from infonas: " + "; ".join(bad)


def test_surrogates_and_evaluators_never_import_each_other() -> None:
    known = project_modules()
    bad = [
        str(edge)
        for name, module in known.items()
        for edge in imports_of(module, known)
        if (_in(name, "infonas.surrogates") and _in(edge.target, "infonas.evaluators"))
        or (_in(name, "infonas.evaluators") and _in(edge.target, "infonas.surrogates"))
    ]
    assert not bad, "infonas.surrogates and infonas.evaluators must not import each other: " + "; ".join(bad)


def test_only_the_cli_imports_the_cli() -> None:
    known = project_modules()
    bad = [
        str(edge)
        for name, module in known.items()
        if not name.startswith("infonas.cli")
        for edge in imports_of(module, known)
        if edge.target.startswith("infonas.cli")
    ]
    assert not bad, "the library must not import the CLI (only infonas.cli* modules may): " + "; ".join(bad)


# ----- the checker itself, on a tiny synthetic package -----


def _write(root: Path, files: dict[str, str]) -> dict[str, Module]:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return discover(root, ("pkg",))


def test_checker_resolves_imports_and_finds_cycles(tmp_path: Path) -> None:
    known = _write(tmp_path, {
        "pkg/__init__.py": "from pkg.a import f\n",  # own submodule: not a cycle
        "pkg/a.py": "import os\nfrom pkg import b\n\ndef f():\n    from . import c\n",
        "pkg/b.py": "from pkg import VERSION\nfrom typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import pkg.a\n",
        "pkg/c.py": "from .a import f\n",
        "pkg/sub/__init__.py": "from . import d\n",
        "pkg/sub/d.py": "from .. import b\n",
    })
    edges = {name: sorted(e.target for e in imports_of(module, known)) for name, module in known.items()}
    assert edges == {
        "pkg": ["pkg.a"],
        "pkg.a": ["pkg.b", "pkg.c"],
        "pkg.b": ["pkg", "pkg.a"],
        "pkg.c": ["pkg.a"],
        "pkg.sub": ["pkg.sub.d"],
        "pkg.sub.d": ["pkg.b"],
    }
    cycles = find_cycles(import_graph(known))
    assert [[str(e) for e in chain] for chain in cycles] == [["pkg.a -> pkg.c (line 5)", "pkg.c -> pkg.a (line 1)"]]
