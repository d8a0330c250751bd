"""No import circles inside a folder, and dependencies that point the ways docs/architecture.md draws them.

coordinator -> workers, coordinator -> cluster; workers and cluster know nothing of the coordinator nor of each
other. Inside coordinator/ the rooms stand in one order, each importing only those before it: config, data,
results, rounds, interface. Every import counts: at the top of a module, inside a function, or for type
checking only; a circle of any of them means two modules that cannot be understood (or moved) one without the
other.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


# coordinator's rooms, each allowed to import only the rooms before it (and workers/, cluster/).
ROOMS = ("coordinator.config", "coordinator.data", "coordinator.results", "coordinator.rounds", "coordinator.interface")


def module_name(path: Path) -> str:
    """The dotted name of a project module from its path (a package's __init__ is the package)."""
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_module(name: str) -> bool:
    """Whether a dotted name is a module or package of the project."""
    base = ROOT / name.replace(".", "/")
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def imports_of(folder: str) -> dict[str, set[str]]:
    """For each module of a folder and its sub-packages, the project modules it imports (any folder), by name."""
    graph = {}
    for path in sorted((ROOT / folder).rglob("*.py")):
        names = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names |= {node.module, *(f"{node.module}.{alias.name}" for alias in node.names)}
            elif isinstance(node, ast.Import):
                names |= {alias.name for alias in node.names}
        module = module_name(path)
        graph[module] = {name for name in names if name != module and is_module(name)}
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


def test_the_walk_reaches_the_rooms():
    modules = imports_of("coordinator")
    for room in ROOMS[1:]:
        assert any(module.startswith(f"{room}.") for module in modules), room
    assert imports_of("coordinator")["coordinator.rounds.stepper"] >= {"coordinator.rounds.best", "coordinator.config"}


@pytest.mark.parametrize(
    ("folder", "never"), [("workers", ("coordinator", "cluster")), ("cluster", ("coordinator", "workers"))]
)
def test_dependencies_point_one_way(folder, never):
    wrong = {
        module: sorted(name for name in names if name.split(".")[0] in never)
        for module, names in imports_of(folder).items()
    }
    assert {module: names for module, names in wrong.items() if names} == {}


def room_of(module: str) -> int | None:
    """The place of a coordinator module's room in ROOMS (None: the package itself or its __main__)."""
    for place, room in enumerate(ROOMS):
        if module == room or module.startswith(f"{room}."):
            return place
    return None


def test_the_rooms_of_the_coordinator_import_only_the_rooms_before_them():
    wrong = {}
    for module, names in imports_of("coordinator").items():
        place = room_of(module)
        if place is None:  # coordinator/__init__ (loads names by string) and __main__ (the command line)
            continue
        later = sorted(name for name in names if (room_of(name) or 0) > place)
        if later:
            wrong[module] = later
    assert wrong == {}


def test_every_coordinator_module_lives_in_a_room():
    outside = {module for module in imports_of("coordinator") if room_of(module) is None} - {
        "coordinator",
        "coordinator.__main__",
    }
    assert outside == set()
