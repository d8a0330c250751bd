"""The public API: every name in `coordinator.__all__` and `workers.__all__` loads, the extension points the docs
describe are among them, the docs import nothing else, and modules that moved still import by their old names."""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

import coordinator
import workers

ROOT = Path(__file__).resolve().parents[1]
# The extension points docs/architecture.md names ("Where things go"), and what the README and usage call.
EXTENSION_POINTS = {
    "prepare_run",
    "run_prepared",
    "PreparedRun",
    "SearchStepper",
    "Executor",
    "open_executor",
    "Progress",
    "ProgressGroup",
    "Objective",
    "RayMetrics",
    "search",
    "SearchConfig",
    "load_result",
    "SearchResult",
}


@pytest.mark.parametrize("package", [coordinator, workers], ids=lambda package: package.__name__)
def test_every_public_name_loads(package):
    for name in package.__all__:
        value = getattr(package, name)
        assert value is not None
        assert getattr(value, "__doc__", None), f"{package.__name__}.{name} has no docstring"


def test_the_extension_points_are_public():
    assert set(coordinator.__all__) >= EXTENSION_POINTS
    assert {"Objective", "Layout", "ClimbSettings", "climb", "pack_rows", "evaluate_compiled"} <= set(workers.__all__)


def test_the_search_function_is_not_shadowed_by_its_module():
    importlib.import_module("coordinator.rounds.search")
    from coordinator import search

    assert callable(search) and search.__module__ == "coordinator.rounds.search"


def test_the_architecture_names_every_extension_point():
    text = (ROOT / "docs" / "architecture.md").read_text()
    for name in ("prepare_run", "run_prepared", "SearchStepper", "Executor", "open_executor", "Progress"):
        assert f"`{name}`" in text, name


def _python_blocks(path: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", path.read_text(), flags=re.S)


@pytest.mark.parametrize("document", ["README.md", "docs/usage.md", "docs/cluster.md"])
def test_the_docs_examples_import_only_public_names(document):
    imports = []
    for block in _python_blocks(ROOT / document):
        imports += re.findall(r"^\s*from ((?:coordinator|workers|cluster)[\w.]*) import ([^\n#]+)", block, re.M)
    for module, names in imports:
        assert module in ("coordinator", "workers", "cluster"), f"{document}: from {module} import {names}"
        package = importlib.import_module(module)
        for name in (part.strip() for part in names.split(",")):
            assert name in package.__all__, f"{document}: {name} is not in {module}.__all__"


def test_every_moved_module_still_imports_by_its_old_name():
    """In a fresh process, so that each old name is really looked up: the module at its new home, the same object,
    with a warning naming that home; and workers.blackbox, which re-exports Objective."""
    script = """
import importlib, warnings
import coordinator
for old, new in coordinator._MOVED.items():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        module = importlib.import_module(old)
    assert module is importlib.import_module(new), old
    assert module.__spec__.name == new, old
    assert any(new in str(warning.message) for warning in caught), old
from workers.blackbox import Objective
from workers.objective import Objective as moved
assert Objective is moved
from coordinator import search
assert callable(search)
print(len(coordinator._MOVED))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, check=False)
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) == len(coordinator._MOVED) >= 25


def test_a_renamed_worker_name_still_loads_with_a_warning():
    with pytest.warns(DeprecationWarning, match="workers.pack_rows"):
        assert workers.prepare_rows is workers.pack_rows
    with pytest.warns(DeprecationWarning, match="workers.evaluate_compiled"):
        assert workers.score is workers.evaluate_compiled
