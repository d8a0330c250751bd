"""Helpers for the command-line tests: a tiny finished run, and `python -m coordinator` in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from coordinator import SearchConfig, search

REPOSITORY = Path(__file__).resolve().parents[2]
TINY = {"dataset": "vertical", "layers": (2, 3, 3), "climbers": 2, "steps": 300, "rounds": 2, "time_budget": None}
TINY_FLAGS = ["--dataset", "vertical", "--layers", "2,3,3", "--climbers", "2", "--steps", "300", "--rounds", "2"]


def make_run(run_dir: Path, **overrides):
    """A finished two-round search on the vertical data (2-3-3), in one process; returns its result."""
    return search(SearchConfig(**{**TINY, **overrides}), executor="inprocess", run_dir=run_dir)


def cli_environment(path_first: Path | None = None) -> dict[str, str]:
    """The environment of a command under test: this checkout's code, no Ray usage stats, no screen.

    path_first: a folder whose modules shadow installed ones (to play a machine without a package).
    """
    path = [str(path_first) if path_first is not None else None, str(REPOSITORY), os.environ.get("PYTHONPATH")]
    environment = {
        **os.environ,
        "RAY_USAGE_STATS_ENABLED": "0",
        "RAY_AUTH_MODE": "disabled",
        "MPLBACKEND": "Agg",
        "PYTHONPATH": os.pathsep.join(filter(None, path)),
    }
    environment.pop("RAY_ADDRESS", None)  # a private local Ray, never a cluster the shell points at
    return environment


def run_cli(
    *arguments: str, cwd: Path, timeout: float = 120, path_first: Path | None = None
) -> subprocess.CompletedProcess:
    """`python -m coordinator ARGUMENTS` from cwd, with this checkout's code, no Ray usage stats, no screen."""
    return subprocess.run(
        [sys.executable, "-m", "coordinator", *arguments],
        cwd=cwd,
        env=cli_environment(path_first),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def assert_one_line_error(completed: subprocess.CompletedProcess, *fragments: str) -> None:
    """Exit status 2, nothing on stdout, and one `error: ...` line holding each fragment, no traceback."""
    assert completed.returncode == 2, completed.stderr
    assert completed.stdout == ""
    lines = completed.stderr.strip().splitlines()
    assert len(lines) == 1, completed.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in completed.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
