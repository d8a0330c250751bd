"""`python -m coordinator run` with bad input: exit status 2, one `error:` line naming the culprit, nothing left.

Each case runs the real command in a subprocess with --inprocess (no Ray), except the one that is
about reaching Ray. Before the run starts, nothing may be written: neither --out nor runs/.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from coordinator import SearchConfig, search
from tests.coordinator.cli_runner import cli_environment, run_cli

TINY = ["--dataset", "vertical", "--layers", "2,3,3", "--climbers", "2", "--steps", "100", "--rounds", "2"]


def _run(cwd: Path, *arguments: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """`python -m coordinator run ARGUMENTS` in cwd, with this checkout's code and Ray kept quiet."""
    return run_cli("run", *arguments, cwd=cwd, timeout=timeout)


def _assert_refused(completed: subprocess.CompletedProcess, cwd: Path, *fragments: str) -> str:
    """Exit 2, stderr exactly one `error: ...` line holding each fragment, no traceback, no run directory."""
    assert completed.returncode == 2, completed.stderr
    assert "Traceback" not in completed.stderr, completed.stderr
    lines = completed.stderr.splitlines()
    assert len(lines) == 1, completed.stderr
    assert lines[0].startswith("error: "), lines[0]
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    assert not (cwd / "out").exists()
    assert not (cwd / "runs").exists()
    return lines[0]


# Each case: (flags, what the error line says); _write_files writes the files they name. Config errors
# come before anything is printed; the data cases pass --quiet (see the expected failure below).
CASES = {
    "climbers zero": (["--climbers", "0"], "climbers: Input should be greater than or equal to 1, got 0"),
    "steps negative": (["--steps", "-5"], "steps: Input should be greater than or equal to 1, got -5"),
    "rounds zero": (["--rounds", "0"], "rounds: Input should be greater than or equal to 1, got 0"),
    "workers zero": (["--workers", "0"], "workers: Input should be greater than or equal to 1, got 0"),
    "step size zero": (["--step-size", "0"], "step_size: must be a positive finite number, got 0.0"),
    "step size NaN": (["--step-size", "nan"], "step_size: must be a positive finite number, got nan"),
    "step size infinite": (["--step-size", "inf"], "step_size: must be a positive finite number, got inf"),
    "target loss negative": (["--target-loss", "-1"], "target_loss: must be a finite number >= 0, got -1.0"),
    "target loss NaN": (["--target-loss", "nan"], "target_loss: must be a finite number >= 0, got nan"),
    "inputs other than the features": (
        ["--dataset", "spiral", "--layers", "3,64,3"],
        "layers: the spiral data set has 2 features, but layers start with 3",
    ),
    "outputs other than the classes": (
        ["--dataset", "spiral", "--layers", "2,64,4"],
        "layers: the data set has 3 classes, but layers end with 4",
    ),
    "unknown data set": (
        ["--dataset", "spirals"],
        "dataset: must be one of spiral, vertical, sine, digits, iris, wine, breast_cancer, diabetes or a "
        ".csv/.npz/.npy file",
    ),
    "a count that is not a number": (
        ["--climbers", "many"],
        "argument --climbers: expected an integer or 'none', got 'many'",
    ),
    "layers that are not numbers": (["--layers", "2,x,3"], "argument --layers: expected comma-separated integers"),
    "weights of no grid": (["--weights", "int4"], "argument --weights: invalid choice: 'int4'"),
    "random search on a grid": (
        ["--weights", "ternary", "--strategy", "random"],
        "weights: random search draws float weights; 'ternary' weights need strategy 'adjust'",
    ),
    "a regressor's loss for a classifier": (
        ["--dataset", "spiral", "--loss", "mae"],
        "loss: 'mae' is a regressor's loss; a classifier minimises cross_entropy or error",
    ),
    "a classifier's loss for a regressor": (
        ["--dataset", "sine", "--loss", "error"],
        "loss: 'error' is a classifier's loss; a regressor minimises mse or mae",
    ),
    "a grid for a regressor": (
        ["--task", "regression", "--dataset", "prices.csv", "--weights", "int8"],
        "weights: 'int8' is for classifiers; a regressor's is 'float'",
    ),
    "sign units for a regressor": (
        ["--dataset", "diabetes", "--activation", "sign"],
        "activation: 'sign' is for classifiers; a regressor's is 'relu'",
    ),
    "data seed beyond numpy's": (["--data-seed", str(2**32)], "data_seed: Input should be less than or equal to"),
    "YAML file missing": (["--config", "absent.yaml"], "error: absent.yaml: no such config file"),
    "YAML file empty": (["--config", "empty.yaml"], "error: empty.yaml: the file is empty; expected a mapping"),
    "YAML file a list": (
        ["--config", "list.yaml"],
        "error: list.yaml: expected a mapping of config fields, got a list",
    ),
    "YAML file not YAML": (["--config", "broken.yaml"], "error: broken.yaml: not valid YAML at line 2"),
    "YAML typo": (["--config", "typo.yaml"], "error: climber: unknown field; did you mean climbers?"),
    "YAML wrong type": (["--config", "text.yaml"], "error: climbers: Input should be a valid integer, got 'eight'"),
    "YAML key a number": (["--config", "number_key.yaml"], "error: 8: unknown field"),
    "data file missing": (["--dataset", "absent.csv", "--quiet"], "absent.csv: no such data file"),
    "NaN feature": (
        ["--dataset", "nan.csv", "--layers", "2,3,2", "--quiet"],
        "nan.csv: line 3, column x has 'nan', not a finite number",
    ),
    "ragged row": (
        ["--dataset", "ragged.csv", "--layers", "2,3,2", "--quiet"],
        "ragged.csv: line 2 has 2 columns, expected 3",
    ),
    "a word": (
        ["--dataset", "words.csv", "--layers", "2,3,2", "--quiet"],
        "words.csv: line 2, column 1 has 'one', not a number",
    ),
    "a single class": (["--dataset", "one_class.csv", "--layers", "2,3,2", "--quiet"], "needs at least two classes"),
    "not text": (
        ["--dataset", "binary.csv", "--layers", "2,3,2", "--quiet"],
        "binary.csv: not a text (UTF-8) .csv file",
    ),
    "npz without y": (
        ["--dataset", "no_y.npz", "--layers", "2,3,2", "--quiet"],
        "no_y.npz: missing array y (found: X)",
    ),
    "features other than the inputs": (
        ["--dataset", "three_features.npz", "--layers", "2,3,3", "--quiet"],
        "layers: the data has 3 features, but layers start with 2",
    ),
    "labels beyond the outputs": (
        ["--dataset", "label_five.npz", "--layers", "2,3,2", "--quiet"],
        "layers: the data has 3 classes (0, 1, 5), but layers end with 2",
    ),
    "X and y of different lengths": (
        ["--dataset", "lengths.npz", "--layers", "2,3,3", "--quiet"],
        "lengths.npz: X has 4 rows but y has 3 labels",
    ),
}


def _write_files(directory: Path) -> None:
    """Every config and data file the cases name."""
    for name, text in {
        "empty.yaml": "",
        "list.yaml": "- 2\n- 64\n",
        "broken.yaml": "climbers: [8\n",
        "typo.yaml": "climber: 8\n",
        "text.yaml": "climbers: eight\n",
        "number_key.yaml": "8: climbers\n",
        "nan.csv": "x,y,label\n0,1,0\nnan,1,1\n",
        "ragged.csv": "0,1,0\n1,1\n",
        "words.csv": "0,1,0\n1,one,1\n",
        "one_class.csv": "0,1,1\n1,0,1\n",
    }.items():
        (directory / name).write_text(text)
    (directory / "binary.csv").write_bytes(b"\xff\xfe\x00\x81\n")
    np.savez(directory / "no_y.npz", X=np.zeros((4, 2)))
    np.savez(directory / "three_features.npz", X=np.zeros((4, 3)), y=np.array([0, 1, 2, 1]))
    np.savez(directory / "label_five.npz", X=np.zeros((4, 2)), y=np.array([0, 1, 5, 1]))
    np.savez(directory / "lengths.npz", X=np.zeros((4, 2)), y=np.array([0, 1, 2]))


@pytest.fixture(scope="module")
def refusals(tmp_path_factory):
    """Every case's command, run a few at a time (each is mostly Python starting up), in its own directory."""
    directories = {}
    for case in CASES:
        directories[case] = tmp_path_factory.mktemp("case")
        _write_files(directories[case])
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = {
            case: pool.submit(_run, directories[case], *flags, "--inprocess", "--out", "out")
            for case, (flags, _expected) in CASES.items()
        }
        return {case: (future.result(), directories[case]) for case, future in futures.items()}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_refused_in_one_line_before_anything_is_written(refusals, case):
    completed, directory = refusals[case]
    before = {path.name for path in directory.iterdir()} - {"out"}
    _assert_refused(completed, directory, CASES[case][1])
    assert {path.name for path in directory.iterdir()} == before


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (["--dataset", "absent.csv"], "absent.csv: no such data file"),
        (["--layers", "3,64,3"], "layers: the data has 2 features, but layers start with 3"),  # the default data
    ],
)
def test_a_data_error_is_one_line_without_quiet_too(tmp_path, flags, expected):
    _assert_refused(_run(tmp_path, *flags, "--inprocess", "--out", "out"), tmp_path, expected)


def test_nothing_is_written_without_out_either(tmp_path):
    completed = _run(tmp_path, "--dataset", "absent.npz", "--inprocess", "--quiet")
    _assert_refused(completed, tmp_path, "absent.npz: no such data file")
    assert list(tmp_path.iterdir()) == []


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A finished run directory, made in this process."""
    run_dir = tmp_path_factory.mktemp("cli") / "done"
    config = SearchConfig(dataset="vertical", layers=(2, 3, 3), climbers=2, steps=100, rounds=2, time_budget=None)
    search(config, executor="inprocess", run_dir=run_dir)
    return run_dir


def _files(directory: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(directory.iterdir())}


def test_an_existing_run_is_not_overwritten(tmp_path, finished_run):
    before = _files(finished_run)
    completed = _run(tmp_path, *TINY, "--inprocess", "--quiet", "--out", str(finished_run))
    _assert_refused(completed, tmp_path, f"{finished_run}: already holds a run", "use --resume or --force")
    assert _files(finished_run) == before


def test_a_truncated_checkpoint_is_refused_and_not_started_over(tmp_path, finished_run):
    run_dir = tmp_path / "damaged"
    run_dir.mkdir()
    for name, contents in _files(finished_run).items():
        (run_dir / name).write_bytes(contents[: len(contents) // 2] if name == "checkpoint.npz" else contents)
    before = _files(run_dir)
    completed = _run(tmp_path, "--resume", str(run_dir), "--inprocess", "--quiet")
    _assert_refused(completed, tmp_path, "checkpoint.npz: checkpoint is truncated or corrupt; cannot resume")
    assert _files(run_dir) == before


def test_resuming_a_directory_without_a_checkpoint_is_refused(tmp_path):
    (tmp_path / "empty").mkdir()
    completed = _run(tmp_path, "--resume", "empty", "--inprocess", "--quiet")
    _assert_refused(completed, tmp_path, "empty/checkpoint.npz: no checkpoint to resume from")
    assert list((tmp_path / "empty").iterdir()) == []


def test_an_unreachable_address_is_one_line_within_thirty_seconds(tmp_path):
    started = time.monotonic()
    completed = _run(tmp_path, *TINY, "--address", "127.0.0.1:1", "--quiet", "--out", "out", timeout=45)
    assert time.monotonic() - started < 30
    _assert_refused(completed, tmp_path, "address: cannot reach Ray at 127.0.0.1:1")


def test_a_reader_that_stops_early_ends_the_run_quietly_and_it_can_be_resumed(tmp_path):
    command = [sys.executable, "-m", "coordinator", "run", *TINY[:6], "--steps", "2000", "--rounds", "1000",
               "--time-budget", "120", "--inprocess", "--log-json", "--out", "run"]  # fmt: skip
    process = subprocess.Popen(
        command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_environment()
    )
    first = process.stdout.readline()
    process.stdout.close()  # as `| head -1` does
    status = process.wait(timeout=120)
    stderr = process.stderr.read()
    assert json.loads(first)["round"] == 0
    assert status == 141, stderr  # 128 + SIGPIPE, as a shell reports a pipeline's writer
    assert "Traceback" not in stderr
    assert stderr.strip().splitlines()[-1] == "output closed; resume with --resume run"


def test_more_workers_than_cpus_are_warned_of_and_the_summary_tells_the_truth(tmp_path):
    from coordinator.rounds.executors import local_cpus

    workers = local_cpus() + 1
    completed = _run(tmp_path, *TINY, "--workers", str(workers), "--out", "run", timeout=180)
    assert completed.returncode == 0, completed.stderr
    warning = f"warning: workers: {workers} workers share the {local_cpus()} CPU(s) Ray has"
    assert any(line.startswith(warning) for line in completed.stderr.splitlines()), completed.stderr
    assert f"({workers} worker actor(s) asked for, {local_cpus()} CPU(s), 1 node(s))" in completed.stdout
    # Two rounds of milliseconds end long before a private Ray is up: where they ran is said, and recorded.
    assert "; rounds 0-1 climbed in this process while Ray started (" in completed.stdout
    assert "no worker actor climbed: Ray was still starting when the run ended" in completed.stdout
    environment = json.loads((tmp_path / "run" / "result.json").read_text())["environment"]
    placed = {key: environment[key] for key in ("driver_rounds", "worker_rounds", "shared_rounds", "actors")}
    assert placed == {"driver_rounds": 2, "worker_rounds": 0, "shared_rounds": 0, "actors": 0}
    assert environment["workers"] == workers and environment["first_worker_round"] is None
