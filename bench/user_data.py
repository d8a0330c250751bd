"""Data as a user has it, and this project run on it as a user runs it: a library of the real-data benchmarks.

`split_rows` splits a data set 75/25 as `--dataset NAME --data-seed S` splits it (the spirals: a user's
file and a fresh spiral to test on); `write_csv` writes rows as a user's CSV file; `run_project` runs
`python -m coordinator run` on such a file in a process of its own and scores its result on the test
file. bench/real_data.py, quantised.py, selection.py, step_rules.py and throughput.py take their rows here.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.common import ROOT, mnist_5k

# This project's searches on a weight grid (or float), as the benchmarks run them: extra flags of `coordinator run`.
SEARCHES = {
    "float": [],
    "int8": ["--weights", "int8"],
    "ternary": ["--weights", "ternary"],
    "binary": ["--weights", "binary"],
    "int8-sign": ["--weights", "int8", "--activation", "sign"],
    "ternary-sign": ["--weights", "ternary", "--activation", "sign"],
    "binary-sign": ["--weights", "binary", "--activation", "sign"],
    "ternary-error": ["--weights", "ternary", "--loss", "error"],
    "ternary-combine-best": ["--weights", "ternary", "--combine", "best"],
    "binary-combine-best": ["--weights", "binary", "--combine", "best"],
    "ternary-step": ["--weights", "ternary", "--activation", "step"],
    "ternary-step-error": ["--weights", "ternary", "--activation", "step", "--loss", "error"],
    "binary-sign-error": ["--weights", "binary", "--activation", "sign", "--loss", "error"],
    # every training row climbed on, none held out to pick the network (bench/grid_holdout.py: counts)
    "ternary-no-holdout": ["--weights", "ternary", "--validation-fraction", "0"],
    "binary-no-holdout": ["--weights", "binary", "--validation-fraction", "0"],
}
SPIRALS = ("spiral5", "spiral3")  # the chapter's spiral (100 points a class, 5 or 3 classes) as a user's file


def split_rows(name: str, split: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(X_train, y_train, X_test, y_test) of a data set, split as `--data-seed split` splits scikit-learn's.

    mnist: MNIST-5k's pixels 0-255 (`bench.common.mnist_5k`); spiral5, spiral3: the spiral of data seed
    `split`, tested on a fresh spiral of data seed 1000 + split.
    """
    from coordinator.data.datasets import nnfs_data, sklearn_data
    from coordinator.data.splits import TEST_SALT, stratified_split
    from coordinator.rounds.prepare import TEST_FRACTION

    if name in SPIRALS:
        classes = int(name.removeprefix("spiral"))
        X, y = nnfs_data("spiral", 100, classes, split)
        X_test, y_test = nnfs_data("spiral", 100, classes, 1000 + split)
        return X.astype(np.float64), y.astype(np.int64), X_test.astype(np.float64), y_test.astype(np.int64)
    if name == "mnist":
        X, labels = mnist_5k(divide_by=1.0)
    else:
        dataset = sklearn_data(name)
        X, labels = dataset.X, dataset.labels
    kept, held = stratified_split(labels, TEST_FRACTION, split, TEST_SALT)
    return X[kept], labels[kept], X[held], labels[held]


def write_csv(path: Path, X: np.ndarray, y: np.ndarray) -> None:
    """Rows of raw features and the integer label last, with a header (integers written as such)."""
    header = ",".join([*(f"x{index}" for index in range(X.shape[1])), "label"])
    whole = bool(np.all(np.round(X) == X))
    text = (lambda value: str(int(value))) if whole else (lambda value: repr(float(value)))
    rows = [",".join([*(text(value) for value in row), str(int(label))]) for row, label in zip(X, y, strict=True)]
    path.write_text("\n".join([header, *rows]) + "\n")


def run_project(train: Path, test: Path, hidden: str, budget: float, split: int, flags: list[str]) -> dict:
    """This project through its command line, as a user runs it; its test figures and result."""
    with tempfile.TemporaryDirectory(prefix="hillclimb-real-") as scratch:
        run_dir = Path(scratch) / "run"
        command = [sys.executable, "-m", "coordinator", "run", "--dataset", str(train), "--hidden", hidden]
        command += ["--time-budget", str(budget), "--seed", str(split), "--quiet", "--out", str(run_dir), *flags]
        started = time.monotonic()
        finished = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, check=False)
        seconds = time.monotonic() - started
        if finished.returncode != 0:
            return {"status": "failed", "note": finished.stderr.strip().splitlines()[-1:], "seconds": seconds}
        from coordinator.data.tables import read_table
        from coordinator.results.result import load_result

        result = load_result(run_dir)
        table = read_table(test, labelled=True)
        evaluation = result.evaluate(table.X, table.y)
        return {
            "status": "ok",
            "test_accuracy": evaluation.accuracy,
            "test_loss": evaluation.loss,
            "training_loss": result.best_loss,
            "training_accuracy": result.best_accuracy,
            "validation_accuracy": result.validation_accuracy,
            "last_training_accuracy": result.history[-1].best_accuracy,
            "last_validation_accuracy": result.history[-1].validation_accuracy,
            "rounds": result.rounds_completed,
            "selected_round": result.selected_round,
            "stopped_because": result.stopped_because.value,
            "evaluations": result.evaluations,
            "seconds": seconds,
            "config": result.config.model_dump(mode="json"),
        }
