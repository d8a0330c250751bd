"""Quiet means quiet: Ray's start-up notices stay off the terminal under --quiet and --log-json.

The runs leave RAY_AUTH_MODE unset, as a user's shell does, so that a local Ray turns token
authentication on and says so (the notice these tests keep off the terminal); HOME is a
temporary directory, so the token Ray then writes never lands in the real home.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.cluster.conftest import PROJECT

# No time budget: on a loaded machine a starved run must still make its two rounds.
RUN = ["--dataset", "vertical", "--layers", "2,3,3", "--climbers", "2", "--steps", "300", "--rounds", "2"]
RUN += ["--time-budget", "none"]
RUN_TIMEOUT_S = 300  # a hang guard: each run takes seconds


def _start(flag: str, home: Path, out: Path) -> subprocess.Popen:
    environment = {**os.environ, "HOME": str(home), "PYTHONPATH": str(PROJECT), "MPLBACKEND": "Agg"}
    environment.pop("RAY_AUTH_MODE", None)
    environment.pop("RAY_ADDRESS", None)  # a private local Ray
    return subprocess.Popen(
        [sys.executable, "-m", "coordinator", "run", *RUN, "--workers", "1", flag, "--out", str(out)],
        cwd=PROJECT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _ray_log_of(pid: int) -> str:
    """What the quiet run with this process id wrote among its Ray session's logs."""
    paths = sorted(Path(tempfile.gettempdir(), "ray").glob(f"session_*/logs/hillclimb-driver-{pid}.log"))
    assert paths, f"no hillclimb-driver-{pid}.log among Ray's session logs"
    return paths[-1].read_text()


def test_quiet_and_json_runs_keep_rays_notices_in_its_log_files(tmp_path):
    runs, outputs = {}, {}
    for flag in ("--quiet", "--log-json"):  # one after the other: two local Rays starting at once can time out
        runs[flag] = _start(flag, tmp_path / flag / "home", tmp_path / flag / "run")
        outputs[flag] = runs[flag].communicate(timeout=RUN_TIMEOUT_S)
    for flag, process in runs.items():
        assert process.returncode == 0, (flag, outputs[flag][1])

    stdout, stderr = outputs["--quiet"]
    assert (stdout, stderr) == ("", "")

    stdout, stderr = outputs["--log-json"]
    rounds = [json.loads(line) for line in stdout.splitlines()]  # JSON lines and nothing else
    assert [record["round"] for record in rounds] == [0, 1]
    summary = stderr.splitlines()
    assert summary[0].startswith("best network ") and summary[-1].startswith("written: "), stderr
    assert len(summary) == 5, stderr  # the best network, the seed's figure, evaluations, rounds, written

    for flag, process in runs.items():
        assert (tmp_path / flag / "home" / ".ray" / "auth_token").is_file()  # Ray did turn token auth on
        assert "Token authentication is enabled" in _ray_log_of(process.pid)  # and said so, in its log


API_RUNS = """
from sklearn.datasets import load_iris
from coordinator import HillClimbClassifier, SearchConfig, search

config = SearchConfig(dataset="vertical", layers=(2, 3, 3), climbers=2, steps=300, rounds=2, time_budget=None)
search(config.model_copy(update={"workers": 1}))  # a private local Ray, started and ended by the search
HillClimbClassifier(executor="ray", max_iter=1, steps=100, climbers=1).fit(*load_iris(return_X_y=True))  # a shared one
print("done")
"""


def test_the_api_and_the_estimator_keep_rays_notices_off_the_terminal_too(tmp_path):
    environment = {**os.environ, "HOME": str(tmp_path), "PYTHONPATH": str(PROJECT)}
    environment.pop("RAY_AUTH_MODE", None)  # so that Ray turns token authentication on, and says so
    environment.pop("RAY_ADDRESS", None)
    completed = subprocess.run(
        [sys.executable, "-c", API_RUNS],
        cwd=PROJECT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert (completed.stdout, completed.stderr) == ("done\n", "")
    assert (tmp_path / ".ray" / "auth_token").is_file()  # Ray did turn token authentication on
