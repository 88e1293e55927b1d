"""The layers point one way: every import of the packages, module-level or inside a function,
is an edge, and the graph of modules has no cycle; interactive methods and simulated users never
import each other (both import the shared geometry in ``al_loop.core.geometry``)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from al_loop.core.paths import REPO_ROOT

PACKAGES = ("al_loop", "strategies", "simulators", "app")


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO_ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def all_modules() -> dict[str, Path]:
    return {
        module_name(path): path
        for package in PACKAGES
        for path in sorted((REPO_ROOT / package).rglob("*.py"))
    }


def imported_modules(path: Path, modules: dict[str, Path]) -> set[str]:
    """The project's modules ``path`` imports anywhere in its body (functions included): for
    ``from X import Y`` the module X.Y when Y is one, else X."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the package, up level - 1 packages
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.add(sub if sub in modules else base)
    return {m for m in found if m in modules and m != name}


def import_graph() -> dict[str, set[str]]:
    modules = all_modules()
    return {name: imported_modules(path, modules) for name, path in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_cycle_finder_finds_a_cycle_and_accepts_a_chain():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []


def test_the_walker_sees_imports_inside_functions():
    graph = import_graph()
    # al_loop.wiring.cli imports the builder only inside its commands
    assert "al_loop.wiring.build" in graph["al_loop.wiring.cli"]


def test_no_import_cycle_between_modules():
    assert cycles(import_graph()) == []


@pytest.mark.parametrize(
    ("importer", "forbidden"),
    [("al_loop.interactive", "simulators"), ("simulators", "al_loop.interactive")],
)
def test_methods_and_users_do_not_import_each_other(importer, forbidden):
    graph = import_graph()
    offending = {
        (module, target)
        for module, targets in graph.items()
        if module == importer or module.startswith(importer + ".")
        for target in targets
        if target == forbidden or target.startswith(forbidden + ".")
    }
    assert offending == set()


def test_one_builder_constructs_the_loop():
    """``Loop(...)`` is called in one place, the builder every entry point and the app use."""
    callers = []
    for name, path in all_modules().items():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Call):
                func = node.func
                called = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
                if called == "Loop":
                    callers.append(name)
    assert callers == ["al_loop.wiring.build"]
