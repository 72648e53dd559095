"""No import cycle at module level among the project's packages: a cycle hidden by imports inside functions is
still allowed (it is how a slow import is deferred), one at module level is not (the order of first imports then
decides whether a name exists yet). The graph is read from the sources with `ast`, nothing imported."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("flows", "sources", "storage", "transforms", "reports")  # pyproject's packages


def module_names(root: Path, packages: tuple[str, ...]) -> dict[str, Path]:
    """`sources.refresh` -> its file, `sources` -> sources/__init__.py, for every module of `packages`."""
    found = {}
    for package in packages:
        for path in (root / package).rglob("*.py"):
            parts = path.relative_to(root).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _module_level_imports(tree: ast.Module):
    """Import statements run when the module is imported: its body, and the branches of its `if` and `try`
    blocks (an `if TYPE_CHECKING:` block is never run), not those inside functions or classes."""
    pending = list(tree.body)
    while pending:
        node = pending.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif isinstance(node, ast.If) and not _is_type_checking(node):
            pending += node.body + node.orelse
        elif isinstance(node, ast.Try):
            pending += node.body + node.orelse + node.finalbody + [n for h in node.handlers for n in h.body]
        elif isinstance(node, ast.With):
            pending += node.body


def imports_of(module: str, path: Path, known: set[str]) -> set[str]:
    """The project modules `module` imports at module level, each by its most precise name, as grimp and pydeps
    count them: `from a import b` is `a.b` when b is a module, else `a`; `import a.b` is `a.b`. (The package `a`
    runs first, but a submodule importing its own package's modules while the package imports it is the usual
    layout of a registry, not a cycle.)"""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    targets: set[str] = set()
    for node in _module_level_imports(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets |= {alias.name for alias in node.names} & known
            continue
        base = node.module or ""
        if node.level:
            anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
            base = f"{anchor}.{base}".rstrip(".")
        for alias in node.names:
            name = f"{base}.{alias.name}"
            targets |= {name if name in known else base} & known
    return targets - {module}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
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
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def import_graph(root: Path, packages: tuple[str, ...]) -> dict[str, set[str]]:
    modules = module_names(root, packages)
    return {name: imports_of(name, path, set(modules)) for name, path in modules.items()}


def test_the_project_has_no_import_cycle_at_module_level():
    graph = import_graph(ROOT, PACKAGES)
    # (flows.steps imports the reports inside the steps that build them: a refresh does not load them)
    assert len(graph) > 100 and graph["flows.steps"] >= {"storage.store", "sources.refresh", "flows.local"}
    assert cycles(graph) == []


def test_a_cycle_is_found_and_an_import_inside_a_function_is_not_one(tmp_path):
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from pkg import b\n")
    (package / "b.py").write_text("import os\nif True:\n    from . import c\n")
    (package / "c.py").write_text("from pkg.a import name\n")  # a -> b -> c -> a: one cycle of three
    (package / "d.py").write_text("def late():\n    from pkg import a\n")  # d -> a inside a function only
    (package / "e.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg import d\n")
    graph = import_graph(tmp_path, ("pkg",))
    assert graph["pkg.d"] == set() and graph["pkg.e"] == set()
    assert graph["pkg.c"] == {"pkg.a"} and graph["pkg.a"] == {"pkg.b"}
    assert cycles(graph) == [["pkg.a", "pkg.b", "pkg.c"]]
