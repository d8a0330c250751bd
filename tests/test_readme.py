"""The README's examples run as written, from a copy of the example files it names.

Every `run` line is checked with --dry-run (its flags, files and data, as written); the runs the
other lines need are then made from the README's own lines, made short (a few flags appended: the
last of a flag given twice wins); every other line runs as written.
"""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path

import pytest

from tests.coordinator.cli_runner import run_cli

ROOT = Path(__file__).resolve().parents[1]
SHORT = ["--inprocess", "--steps", "300", "--rounds", "2", "--time-budget", "none", "--quiet"]


def readme_commands() -> list[list[str]]:
    """The `python -m coordinator ...` lines of the README's "Use it" block, as argument lists."""
    text = (ROOT / "README.md").read_text()
    block = re.search(r"## Use it\n\n```bash\n(.*?)```", text, re.S).group(1)
    commands = []
    for line in block.splitlines():
        words = shlex.split(line, comments=True)
        if words[:3] == ["python", "-m", "coordinator"]:
            commands.append(words[3:])
    return commands


@pytest.fixture(scope="module")
def project_copy(tmp_path_factory):
    """A directory holding the example files where the README says they are."""
    directory = tmp_path_factory.mktemp("readme")
    shutil.copytree(ROOT / "docs" / "examples", directory / "docs" / "examples")
    return directory


def test_the_readme_has_the_examples_a_user_needs():
    verbs = [command[0] for command in readme_commands()]
    assert verbs.count("run") >= 4 and {"evaluate", "predict", "plot", "export"} <= set(verbs)


def test_every_example_runs_as_written(project_copy):
    commands = readme_commands()
    runs = [command for command in commands if command[0] == "run" and "--resume" not in command]
    for command in runs:
        completed = run_cli(*command, "--dry-run", cwd=project_copy)
        assert completed.returncode == 0 and completed.stdout.startswith("would run: "), (command, completed.stderr)
    for command in runs:  # the runs later lines read: those with --out
        if "--out" in command:
            completed = run_cli(*command, *SHORT, cwd=project_copy)
            assert completed.returncode == 0, (command, completed.stderr)
    for command in commands:
        if command[0] == "run" and "--resume" in command:
            completed = run_cli(*command, "--inprocess", "--rounds", "3", "--quiet", cwd=project_copy)
        elif command[0] != "run":
            completed = run_cli(*command, cwd=project_copy)
        else:
            continue
        assert completed.returncode == 0, (command, completed.stderr)
    assert (project_copy / "classes.csv").read_text().startswith("class,p_lower,p_upper\n")
    assert (project_copy / "points.onnx").stat().st_size > 0
    assert (project_copy / "runs" / "spiral" / "history.png").is_file()


def test_the_python_example_fits_data_of_any_width():
    import numpy as np

    from coordinator import SearchConfig
    from coordinator.rounds.prepare import prepare_run

    text = (ROOT / "README.md").read_text()
    line = re.search(r"^config = (SearchConfig\(.*\))\s*(#[^)]*)?$", text, re.M).group(1)
    config = eval(line, {"SearchConfig": SearchConfig})  # the README's own line
    my_X = np.random.default_rng(0).standard_normal((40, 5))  # five features, four classes: not the spiral's
    my_y = np.arange(40) % 4
    assert prepare_run(config, my_X, my_y).config.layers == (5, 64, 4)


def test_ci_runs_the_readmes_install_and_test_commands():
    """.ci/run installs the project as the README's first lines say and runs their test command, skips listed."""
    readme = (ROOT / "README.md").read_text()
    install, test = re.search(r"Run the tests.*?```bash\n(.*?) && (.*?)\n```", readme, re.S).groups()
    ci = [
        [word for word in shlex.split(line, comments=True) if word != "--quiet"]
        for line in (ROOT / ".ci" / "run").read_text().splitlines()
    ]
    assert shlex.split(install) in ci and shlex.split(test) in ci
    assert test == "python -m pytest -rs"


def test_the_docs_python_examples_need_no_package_that_no_extra_installs():
    """pandas is installed by no extra: an example that needs a data frame says so in words, outside its code."""
    import tomllib

    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    installed = " ".join(requirement for group in extras.values() for requirement in group).lower()
    assert "pandas" not in installed
    for path in (ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))):
        for block in re.findall(r"```python\n(.*?)```", path.read_text(), re.S):
            for needs in ("as_frame=True", "import pandas", "pd.DataFrame"):
                assert needs not in block, f"{path.name}: a Python example needs pandas ({needs})"
