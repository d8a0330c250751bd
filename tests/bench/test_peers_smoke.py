"""bench/peers.py with tiny budgets: every installed peer, digits' test rows, seeds, both objectives, resuming."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from bench import peers
from bench.peer_methods import Objective
from workers.network import evaluate

ROOT = Path(__file__).resolve().parents[2]
OUTPUTS = ("peers.json", "peers.md", "peers.png")
PEERS = ("seed", "oneplusone", "cma", "snes", "pgpe")
ENVIRONMENT = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "MPLBACKEND": "Agg"}
HANG_GUARD_S = 300  # a generous limit that only a hang reaches


def run_peers(*arguments: str, timeout: float = HANG_GUARD_S) -> subprocess.CompletedProcess:
    """bench/peers.py in a process of its own, as a person runs it."""
    command = [sys.executable, str(ROOT / "bench" / "peers.py"), *arguments]
    return subprocess.run(command, capture_output=True, text=True, env=ENVIRONMENT, cwd=ROOT, timeout=timeout)


def read_runs(out: Path) -> list[dict]:
    return json.loads((out / "peers.json").read_text())["runs"]


def test_the_peers_the_tests_need_are_installed():
    for module in ("nevergrad", "cma", "sklearn"):  # the test extra installs them: pip install -e '.[test]'
        assert importlib.util.find_spec(module) is not None, f"{module} is not installed: pip install -e '.[test]'"


@pytest.mark.timeout(HANG_GUARD_S)
def test_every_installed_peer_runs_and_none_is_skipped_when_installed(tmp_path):
    finished = run_peers(
        *("--budgets", "0.5", "--datasets", "vertical", "--seeds", "0", "--peers", ",".join([*PEERS, "project1"])),
        *("--project-executor", "inprocess", "--out", str(tmp_path)),
    )
    assert finished.returncode == 0, finished.stderr[-3000:]
    runnable = [name for name in (*PEERS, "project1") if not peers.missing_modules(name)]  # EvoTorch needs torch
    assert f"plan: {len(runnable)} searches" in finished.stderr and "estimated duration about" in finished.stderr
    assert "| dataset | budget (s) | search | objective |" in finished.stdout
    for name in OUTPUTS:
        assert (tmp_path / name).stat().st_size > 0, name

    runs = {run["search"]: run for run in read_runs(tmp_path)}
    assert set(runs) == {*PEERS, "project1"}
    for name, run in runs.items():
        if peers.missing_modules(name):  # only a peer whose package is missing may be skipped
            assert run["status"] == "skipped", run
            continue
        assert run["status"] == "ok", run
        assert run["seed"] == 0 and run["dataset"] == "vertical" and run["budget_s"] == 0.5
        assert 0 < run["loss"] < 1.2 and 0 <= run["accuracy"] <= 1 and run["evaluations"] > 0
        assert run["test_accuracy"] is None  # vertical has no test rows
        assert run["trace"] and run["trace"][-1][1] >= run["loss"] - 1e-12
    for name in ("seed", "oneplusone", "cma"):
        assert runs[name]["cores"] == 1 and runs[name]["objective"] == "numpy" and runs[name]["seconds"] >= 0.5
        assert 0 < runs[name]["cpu_seconds"] <= 2 * runs[name]["seconds"]
    assert runs["project1"]["environment"]["executor"] == "inprocess" and runs["project1"]["settings"]["seed"] == 0


@pytest.mark.timeout(HANG_GUARD_S)
def test_digits_is_split_as_the_project_splits_it_and_every_run_records_test_accuracy(tmp_path):
    finished = run_peers(
        *("--budgets", "0.5", "--datasets", "digits", "--seeds", "0", "--peers", "seed,project1"),
        *("--project-executor", "inprocess", "--project-steps", "200", "--out", str(tmp_path)),
    )
    assert finished.returncode == 0, finished.stderr[-3000:]
    runs = {run["search"]: run for run in read_runs(tmp_path)}
    seed, project = runs["seed"], runs["project1"]
    assert seed["layers"] == project["layers"] == [64, 32, 10]
    assert seed["training_rows"] == 1347 and seed["test_rows"] == project["test_rows"] == 450
    assert project["training_rows"] + project["validation_rows"] == 1347  # its default validation share held out
    for run in (seed, project):
        assert 0 < run["test_accuracy"] <= 1 and run["test_loss"] > 0
    table = (tmp_path / "peers.md").read_text()
    assert f"| {seed['test_accuracy']:.3f} |" in table and "test accuracy on 450 test rows" in table


def test_the_peers_data_are_the_projects_training_and_test_rows_scaled():
    from coordinator import SearchConfig
    from coordinator.rounds.prepare import prepare_run

    objective = Objective("digits", 1.0)
    prepared = prepare_run(SearchConfig(dataset="digits", validation_fraction=0.0))
    assert np.array_equal(objective.data.features, prepared.dataset.X)
    assert np.array_equal(objective.data.test_labels, prepared.test.labels)
    assert abs(objective.data.features.mean(axis=0)).max() < 1e-9  # standard scaling fitted on these rows
    assert abs(objective.data.test_features.mean(axis=0)).max() > 1e-3  # and only applied to the test rows


@pytest.mark.parametrize("name", ["seed", "oneplusone", "cma"])
def test_a_peers_seed_decides_its_start_and_its_steps(name):
    first, again, other = (peers.run_peer(name, "vertical", 0.2, seed) for seed in (1, 1, 2))
    losses = [[loss for _, loss in run["trace"][:3]] for run in (first, again, other)]
    assert len(losses[0]) == 3 and losses[0] == losses[1] and losses[0] != losses[2]


@pytest.mark.timeout(HANG_GUARD_S)
@pytest.mark.parametrize("name", ["snes", "pgpe"])
def test_evotorch_peers_run_and_follow_their_seed(name):
    pytest.importorskip("torch")
    pytest.importorskip("evotorch")
    first, again, other = (peers.run_peer(name, "vertical", 0.3, seed) for seed in (1, 1, 2))
    assert 0 < first["loss"] < 1.2 and first["evaluations"] > 0 and first["settings"]["evotorch"]
    losses = [[loss for _, loss in run["trace"][:2]] for run in (first, again, other)]
    assert len(losses[0]) == 2 and losses[0] == losses[1] and losses[0] != losses[2]
    compiled = peers.run_peer(name, "vertical", 0.3, 1, "compiled")
    assert compiled["trace"][0][1] == pytest.approx(first["trace"][0][1], rel=1e-12)


def test_the_compiled_objective_is_the_numpy_loss_one_network_at_a_time():
    numpy_objective, compiled = Objective("spiral", 1.0), Objective("spiral", 1.0, "compiled")
    compiled.start()
    batch = np.random.default_rng(3).standard_normal((5, compiled.num_params))
    expected = evaluate(batch, numpy_objective.data.features, numpy_objective.data.labels, compiled.layout)[0]
    assert compiled(batch) == pytest.approx(expected, rel=1e-12)
    assert compiled(batch[2]) == pytest.approx(expected[2], rel=1e-12)
    assert compiled.evaluations == 6 and compiled.best_loss == pytest.approx(expected.min(), rel=1e-12)
    assert np.array_equal(compiled.best_params, batch[int(np.argmin(expected))])


@pytest.mark.timeout(HANG_GUARD_S)
def test_the_compiled_objective_gets_rows_of_its_own(tmp_path):
    finished = run_peers(
        *("--budgets", "0.3", "--datasets", "vertical", "--seeds", "0", "--peers", "seed"),
        *("--objective", "numpy,compiled", "--out", str(tmp_path)),
    )
    assert finished.returncode == 0, finished.stderr[-3000:]
    runs = read_runs(tmp_path)
    assert sorted(run["objective"] for run in runs) == ["compiled", "numpy"]
    assert all(run["status"] == "ok" and run["search"] == "seed" for run in runs)
    assert "| seed loop | compiled |" in finished.stdout and "| seed loop | numpy |" in finished.stdout


@pytest.mark.timeout(HANG_GUARD_S)
def test_an_interrupted_measurement_keeps_its_runs_and_resumes(tmp_path):
    command = [sys.executable, str(ROOT / "bench" / "peers.py"), "--budgets", "0.3", "--datasets", "vertical"]
    command += ["--seeds", "0,1,2", "--peers", "seed", "--out", str(tmp_path)]
    process = subprocess.Popen(
        command, env=ENVIRONMENT, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        # Ctrl-C as a terminal delivers it, even where this suite runs in the background (which ignores SIGINT,
        # and a Python started with SIGINT ignored never turns it into KeyboardInterrupt).
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip
    try:
        deadline = time.monotonic() + HANG_GUARD_S
        while not (tmp_path / "peers.json").is_file() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()  # the process this test started, by its handle
            process.wait()
    kept = read_runs(tmp_path)
    assert 1 <= len(kept) < 3 and all(run["status"] == "ok" for run in kept)  # written after each search

    assert peers.main([*command[2:], "--resume"]) == 0
    runs = read_runs(tmp_path)
    assert sorted(run["seed"] for run in runs) == [0, 1, 2]
    started = {run["seed"]: run["started"] for run in runs}
    assert all(started[run["seed"]] == run["started"] for run in kept)  # kept, not run again
    assert len(json.loads((tmp_path / "peers.json").read_text())["meta"]["earlier"]) == 1


def test_a_missing_package_is_skipped_with_a_note(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(peers.REQUIRES, "cma", ("no_such_module_for_peers",))
    arguments = ["--budgets", "0.1", "--datasets", "vertical", "--seeds", "0", "--peers", "cma", "--out", str(tmp_path)]
    assert peers.main(arguments) == 0
    (run,) = read_runs(tmp_path)
    assert run["status"] == "skipped" and "no_such_module_for_peers not installed" in run["note"]
    assert "skipped" in capsys.readouterr().out
    assert all((tmp_path / name).is_file() for name in OUTPUTS)


def test_the_plan_covers_every_data_set_budget_seed_and_search_and_estimates_its_time():
    arguments = ["--datasets", "spiral,digits", "--budgets-for", "digits=60,spiral=10/60", "--seeds", "0,1"]
    args = peers.parse_args(
        [*arguments, "--peers", "seed,project1,project", "--cores", "2", "--objective", "numpy,compiled"]
    )
    jobs, notes = peers.plan(args)
    # spiral: 2 budgets x 2 seeds x (seed loop on 2 objectives, project1, project); digits: 1 budget.
    assert len(jobs) == 2 * 2 * 4 + 1 * 2 * 4 and not notes
    assert {job["budget_s"] for job in jobs if job["dataset"] == "digits"} == {60.0}
    assert {job["objective"] for job in jobs if job["search"] == "project"} == {peers.OWN}
    assert [job["seed"] for job in jobs[:4]] == [0, 0, 0, 0]  # every search of a seed before the next seed
    total = sum(peers.estimate_seconds(job) for job in jobs)
    assert total > sum(job["budget_s"] for job in jobs) == 2 * 4 * (10 + 60) + 2 * 4 * 60
    assert f"{len(jobs)} searches" in peers.describe_plan(jobs) and peers.duration(total) in peers.describe_plan(jobs)

    one_core, notes = peers.plan(peers.parse_args([*arguments, "--peers", "project1,project", "--cores", "1"]))
    assert {job["search"] for job in one_core} == {"project1"} and notes


def test_the_table_gives_the_median_and_the_spread_over_seeds():
    def run(seed, loss, test_accuracy):
        return {
            "search": "seed", "dataset": "digits", "budget_s": 10.0, "seed": seed, "objective": "numpy",
            "status": "ok", "label": "seed loop", "layers": [64, 32, 10], "cores": 1, "cpu_seconds": 10.0,
            "seconds": 10.0, "loss_at_budget": loss, "loss": loss or 0.5, "accuracy": 0.9,
            "test_accuracy": test_accuracy, "evaluations": 100 * (seed + 1), "evaluations_per_s": 10.0 * (seed + 1),
            "training_rows": 1347, "test_rows": 450, "trace": [[0.1, 1.0]],
        }  # fmt: skip

    table = peers.markdown_table([run(2, 0.3, 0.95), run(0, 0.1, 0.85), run(1, 0.2, 0.9)])
    assert "| 0.2000 (0.1000-0.3000) | 0.900 (0.900-0.900) | 0.900 (0.850-0.950) | 200 | 20 | 10.0 |" in table
    assert "Seeds: 0, 1, 2." in table and "test accuracy on 450 test rows" in table
    table = peers.markdown_table([run(0, 0.1, 0.85), run(1, None, 0.9)])
    assert "| 0.1000, 1 of 2 |" in table


def test_traces_are_thinned_and_read_at_the_budget():
    trace = [(0.001 * (index + 1), 1.0 / (index + 1)) for index in range(10_000)]
    thinned = peers.thin(trace, points=100)
    assert len(thinned) <= 102 and thinned[0] == list(trace[0]) and thinned[-1] == list(trace[-1])
    assert [t for t, _ in thinned] == sorted(t for t, _ in thinned)
    assert peers.loss_at(trace, 0.0005) is None
    assert peers.loss_at(trace, 2.0) == pytest.approx(1 / 2000)
    values = peers.trace_values({"trace": [[1.0, 0.5], [2.0, 0.25]], "seconds": 3.0, "loss": 0.25}, [0.5, 1.5, 2.5, 4])
    assert np.isnan(values[0]) and values[1:3] == [0.5, 0.25] and np.isnan(values[3])
