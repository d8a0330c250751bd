"""No benchmark script imports another: what scripts share lives in bench/common.py or a library module of bench/.

Every import of a `bench.` module, at the top of a file or inside a function, in any file of bench/, must name
one of LIBRARIES; the libraries are modules no script is, so that a script can change without breaking another.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
# What the scripts share: the helper module, and libraries of one concept each.
LIBRARIES = {
    "common": "what every script repeats: environment, list flags, JSON lines, the machine record, MNIST-5k",
    "peer_methods": "the gradient-free peers and the objective they minimise",
    "critical_path": "a search's critical path in evaluations and in multiply-adds",
    "user_data": "data as a user has it, and this project run on it as a user runs it",
    "seed_reference": "the seed's own code, copied from the chapter",
}


def bench_imports(path: Path) -> set[str]:
    """The modules of bench/ a file imports (`bench.NAME`, `from bench import NAME`, relative imports)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[1] for alias in node.names if alias.name.startswith("bench.")}
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level > 0:  # from . import x, from .x import y: inside bench/
                names |= {module.split(".")[0]} if module else {alias.name for alias in node.names}
            elif module == "bench":
                names |= {alias.name for alias in node.names}
            elif module.startswith("bench."):
                names.add(module.split(".")[1])
    return names


def test_the_libraries_are_there():
    assert {path.stem for path in BENCH.glob("*.py")} >= set(LIBRARIES)


@pytest.mark.parametrize("path", sorted(BENCH.glob("*.py")), ids=lambda path: path.name)
def test_a_file_of_bench_imports_only_the_shared_modules(path):
    scripts = bench_imports(path) - set(LIBRARIES)
    assert not scripts, f"bench/{path.name} imports the script(s) {sorted(scripts)}: move what it needs to a library"


def test_the_rule_catches_every_form_of_import(tmp_path):
    source = "import bench.peers\nfrom bench import quality\nfrom bench.real_data import split_rows\nfrom . import x\n"
    source += "def f():\n    from bench.common import ROOT\n    from .step_rules import data\n"
    (tmp_path / "script.py").write_text(source)
    assert bench_imports(tmp_path / "script.py") == {"peers", "quality", "real_data", "x", "common", "step_rules"}
