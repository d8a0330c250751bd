"""bench/peers.py end to end with a tiny budget: the peers that need no Ray, and the search in-process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench import peers

ROOT = Path(__file__).resolve().parents[2]
OUTPUTS = ("peers.json", "peers.md", "peers.png")


@pytest.mark.timeout(120)
def test_peers_runs_end_to_end(tmp_path):
    command = [sys.executable, str(ROOT / "bench" / "peers.py"), "--budgets", "0.5", "--datasets", "vertical"]
    command += ["--peers", "seed,oneplusone,cma,project", "--project-executor", "inprocess", "--out", str(tmp_path)]
    environment = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "MPLBACKEND": "Agg"}
    finished = subprocess.run(command, capture_output=True, text=True, env=environment, cwd=ROOT, timeout=110)
    assert finished.returncode == 0, finished.stderr[-2000:]
    assert "| dataset | budget (s) | search |" in finished.stdout
    for name in OUTPUTS:
        assert (tmp_path / name).stat().st_size > 0, name

    runs = {run["search"]: run for run in json.loads((tmp_path / "peers.json").read_text())["runs"]}
    assert set(runs) == {"seed", "oneplusone", "cma", "project"}
    for name in ("seed", "project"):  # need nothing beyond the project's own dependencies
        run = runs[name]
        assert run["status"] == "ok", run
        assert 0 < run["loss"] < 1.2 and 0 <= run["accuracy"] <= 1 and run["evaluations"] > 0
        assert run["trace"] and run["trace"][-1][1] >= run["loss"] - 1e-12
    assert runs["seed"]["cores"] == 1 and runs["seed"]["seconds"] >= 0.5
    assert runs["project"]["environment"]["executor"] == "inprocess"
    for name in ("oneplusone", "cma"):  # ok where installed, skipped with a note where not
        assert runs[name]["status"] in ("ok", "skipped"), runs[name]


def test_a_missing_package_is_skipped_with_a_note(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(peers.REQUIRES, "cma", ("no_such_module_for_peers",))
    assert peers.main(["--budgets", "0.1", "--datasets", "vertical", "--peers", "cma", "--out", str(tmp_path)]) == 0
    (run,) = json.loads((tmp_path / "peers.json").read_text())["runs"]
    assert run["status"] == "skipped" and "no_such_module_for_peers not installed" in run["note"]
    assert "skipped" in capsys.readouterr().out
    assert all((tmp_path / name).is_file() for name in OUTPUTS)


def test_traces_are_thinned_and_read_at_the_budget():
    trace = [(0.001 * (index + 1), 1.0 / (index + 1)) for index in range(10_000)]
    thinned = peers.thin(trace, points=100)
    assert len(thinned) <= 102 and thinned[0] == list(trace[0]) and thinned[-1] == list(trace[-1])
    assert [t for t, _ in thinned] == sorted(t for t, _ in thinned)
    assert peers.loss_at(trace, 0.0005) is None
    assert peers.loss_at(trace, 2.0) == pytest.approx(1 / 2000)
