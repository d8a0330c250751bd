"""Fixtures of the cluster tests: a real Ray head on loopback, and running this project's commands."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from tests.cluster.head import RayHead

PROJECT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def ray_head():
    """A real Ray head (2 CPUs, token authentication off) shared by the tests of one module."""
    head = RayHead(num_cpus=2).start()
    yield head
    head.stop()


def run_command(
    *arguments: str,
    timeout: float = 120,
    environment: dict[str, str] | None = None,
    without: Sequence[str] = (),
):
    """Run `python ARGUMENTS...` in the project directory; the CompletedProcess, text output.

    Its environment is this one without the variables named in without, then environment on top.
    """
    merged = {name: value for name, value in os.environ.items() if name not in without}
    merged.update(environment or {})
    return subprocess.run(
        [sys.executable, *arguments],
        cwd=PROJECT,
        env=merged,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
