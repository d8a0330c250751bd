"""workers/ imports in one direction: no module reaches itself through others, even through an import in a function."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "workers"


def _imports(path: Path) -> set[str]:
    """The workers modules a source file imports anywhere in it (top level or inside a function)."""
    names: set[str] = set()
    modules = {source.stem for source in PACKAGE.glob("*.py")}
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[1] for alias in node.names if alias.name.startswith("workers.")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "workers":
            if node.module == "workers":  # from workers import kernel, network: submodules by name
                names |= {alias.name for alias in node.names if alias.name in modules}
            else:
                names.add(node.module.split(".")[1])
    return names - {"__init__", path.stem}


def test_no_import_circle_inside_workers():
    graph = {path.stem: _imports(path) for path in PACKAGE.glob("*.py") if path.stem != "__init__"}
    assert "kernel" in graph["network"] and "network" not in graph["kernel"]  # the circle this test first caught

    def reach(start: str, seen: set[str]) -> set[str]:
        for name in graph.get(start, ()):
            if name not in seen:
                seen.add(name)
                reach(name, seen)
        return seen

    circles = sorted(name for name in graph if name in reach(name, set()))
    assert circles == [], f"modules that import themselves through others: {circles}"
