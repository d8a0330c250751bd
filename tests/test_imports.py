"""No import circles inside a folder, and dependencies that point one way: coordinator -> workers, cluster.

Every import counts: at the top of a module, inside a function, or for type checking only; a
circle of any of them means two modules that cannot be understood (or moved) one without the other.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def imports_of(folder: str) -> dict[str, set[str]]:
    """For each module of a folder, the project modules it imports (any folder), by dotted name."""
    graph = {}
    for path in sorted((ROOT / folder).glob("*.py")):
        names = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names |= {node.module, *(f"{node.module}.{alias.name}" for alias in node.names)}
            elif isinstance(node, ast.Import):
                names |= {alias.name for alias in node.names}
        module = f"{folder}.{path.stem}"
        graph[module] = {
            name for name in names if name != module and (ROOT / (name.replace(".", "/") + ".py")).is_file()
        }
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The circles of a graph: its strongly connected parts of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for other in graph.get(module, ()):
            if other not in index:
                visit(other)
                low[module] = min(low[module], low[other])
            elif other in stack:
                low[module] = min(low[module], index[other])
        if low[module] == index[module]:
            part = []
            while True:
                other = stack.pop()
                part.append(other)
                if other == module:
                    break
            if len(part) > 1:
                found.append(sorted(part))

    for module in graph:
        if module not in index:
            visit(module)
    return found


def test_the_circle_finder_finds_a_circle():
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert circles({"a": {"b"}, "b": set()}) == []


@pytest.mark.parametrize("folder", ["coordinator", "cluster", "workers"])
def test_no_module_of_a_folder_imports_one_that_imports_it_back(folder):
    graph = {
        module: {name for name in names if name.startswith(f"{folder}.")}
        for module, names in imports_of(folder).items()
    }
    assert circles(graph) == []


@pytest.mark.parametrize(("folder", "never"), [("workers", ("coordinator", "cluster")), ("cluster", ("coordinator",))])
def test_dependencies_point_one_way(folder, never):
    wrong = {
        module: sorted(name for name in names if name.split(".")[0] in never)
        for module, names in imports_of(folder).items()
    }
    assert {module: names for module, names in wrong.items() if names} == {}
