"""Regression: diabetes test R^2 against Ridge and MLPRegressor, and the book's sine against MLPRegressor and PGPE.

Usage: python bench/regression.py [--parts diabetes,sine] [--splits 0,1,2] [--diabetes-budget 20]
                                  [--sine-budget 60] [--out bench/results]
                                  [--diabetes-flags "--hidden 64 --l2 30 --validation-fraction 0 --steps 500"]

diabetes (scikit-learn, 442 rows, 10 features): for each split S the rows are split 75/25 exactly as
`--dataset diabetes --data-seed S` splits them (coordinator.data.splits.stratified_split, one class, its
test salt), and this project is run as a user runs it, on every local core (a private local Ray):

    python -m coordinator run --dataset diabetes --data-seed S --seed S --time-budget B --quiet --out RUN FLAGS

FLAGS were chosen on tuning splits 100, 101, 102 (not the ones reported), 8 s on one core each: a strong
L2 penalty and no held-out rows (the penalty regularises; 66 held-out rows pick a network noisily).

Its network is then scored on the raw test rows (`SearchResult.evaluate`: R^2 and MSE in the target's
units). Beside it, on the same training and test rows: Ridge (alpha 1) on standardised features and
MLPRegressor (Adam, the same hidden layers, max_iter 2000, features and target standardised), with
and without early stopping; both run to convergence (a few seconds, under the budget).

sine (nnfs's sine_data, 1,000 points, 1-64-64-1), seeds 0, 1, 2, each for the same wall-clock budget:
this project (`--dataset sine --hidden 64,64 --seed S --time-budget B`, all cores), MLPRegressor (Adam,
learning rate 0.005 as the book's regression chapter, mini-batches of 200, `partial_fit` epochs until
the budget is spent) and EvoTorch PGPE (ClipUp, population 200) minimising the same MSE; the MSE
reported is each final network's on the 1,000 points (the book's own measure, training rows). BLAS
and torch may use every core.

Writes regression.json (every run, after each) and regression.md (medians over the splits) into --out.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a file: this checkout's packages

from bench.common import QUIET_RAY, RESULTS, ROOT, comma_list, environment_defaults, usable_cpus

environment_defaults(QUIET_RAY)

import numpy as np  # noqa: E402

from cluster.atomic_files import atomic_write_text  # noqa: E402

DEFAULT_DIABETES_FLAGS = "--hidden 64 --l2 30 --validation-fraction 0 --steps 500"


def run_project(arguments: list[str], run_dir: Path) -> tuple[object, float]:
    """`python -m coordinator run ARGUMENTS --out run_dir --quiet` in a process of its own; (result, seconds)."""
    from coordinator.results.result import load_result

    started = time.monotonic()
    command = [sys.executable, "-m", "coordinator", "run", *arguments, "--out", str(run_dir), "--quiet", "--force"]
    finished = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    seconds = time.monotonic() - started
    if finished.returncode != 0:
        raise RuntimeError(f"{shlex.join(command)} failed: {finished.stderr.strip()}")
    return load_result(run_dir), seconds


def diabetes_split(split: int):
    """(X_train, y_train, X_test, y_test) as `--dataset diabetes --data-seed split` splits the rows."""
    from sklearn.datasets import load_diabetes

    from coordinator.data.splits import TEST_SALT, stratified_split
    from coordinator.rounds.prepare import TEST_FRACTION

    X, y = load_diabetes(return_X_y=True)
    kept, held = stratified_split(np.zeros(len(y), dtype=np.int64), TEST_FRACTION, split, TEST_SALT)
    return X[kept], y[kept], X[held], y[held]


def diabetes_runs(split: int, budget: float, flags: str, scratch: Path) -> list[dict]:
    """This project, Ridge and MLPRegressor (with and without early stopping) on one split."""
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.linear_model import Ridge
    from sklearn.metrics import mean_squared_error, r2_score
    from sklearn.neural_network import MLPRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y, X_test, y_test = diabetes_split(split)
    arguments = ["--dataset", "diabetes", "--data-seed", str(split), "--seed", str(split), "--time-budget", str(budget)]
    result, seconds = run_project([*arguments, *shlex.split(flags)], scratch / f"diabetes-{split}")
    evaluation = result.evaluate(X_test, y_test)
    runs = [
        {
            "data": "diabetes", "split": split, "search": f"hillclimb ({flags})", "test_r2": evaluation.r2,
            "test_mse": evaluation.mse, "seconds": seconds, "rounds": result.rounds_completed,
            "selected_round": result.selected_round, "cpus": result.environment.cpus,
            "workers": result.environment.workers, "evaluations": result.evaluations,
        }
    ]  # fmt: skip
    hidden = tuple(result.config.hidden)
    baselines = {
        "Ridge (alpha 1, standardised)": make_pipeline(StandardScaler(), Ridge()),
        "MLPRegressor (Adam)": MLPRegressor(hidden_layer_sizes=hidden, max_iter=2000, random_state=split),
        "MLPRegressor (Adam, early stopping)": MLPRegressor(
            hidden_layer_sizes=hidden, max_iter=2000, random_state=split, early_stopping=True
        ),
    }
    for name, model in baselines.items():
        if name.startswith("MLP"):
            model = TransformedTargetRegressor(make_pipeline(StandardScaler(), model), transformer=StandardScaler())
        started = time.monotonic()
        predicted = model.fit(X, y).predict(X_test)
        runs.append(
            {
                "data": "diabetes", "split": split, "search": name, "test_r2": float(r2_score(y_test, predicted)),
                "test_mse": float(mean_squared_error(y_test, predicted)), "seconds": time.monotonic() - started,
            }
        )  # fmt: skip
    return runs


def sine_mlp(seed: int, budget: float) -> dict:
    """MLPRegressor (Adam, lr 0.005, batches of 200) 1-64-64-1 on sine_data, epochs until the budget is spent."""
    from sklearn.neural_network import MLPRegressor

    from coordinator.data.datasets import sine_data

    X, y = sine_data()
    model = MLPRegressor(hidden_layer_sizes=(64, 64), learning_rate_init=0.005, batch_size=200, random_state=seed)
    started, epochs = time.monotonic(), 0
    while time.monotonic() - started < budget:
        model.partial_fit(X, y[:, 0])
        epochs += 1
    mse = float(np.mean((model.predict(X) - y[:, 0]) ** 2))
    return {"status": "ok", "mse": mse, "seconds": time.monotonic() - started, "epochs": epochs}


def sine_pgpe(seed: int, budget: float) -> dict:
    """EvoTorch PGPE (ClipUp, population 200) minimising the MSE of 1-64-64-1 on sine_data."""
    from bench.peer_methods import pgpe_on_rows
    from coordinator.data.datasets import sine_data
    from workers.network import Layout, evaluate

    X, y = sine_data()
    layout = Layout((1, 64, 64, 1))
    try:
        params, generations, seconds = pgpe_on_rows(X, y, layout, seed, budget, loss="mse")
    except ImportError:
        return {"status": "skipped", "note": "evotorch/torch not installed (pip install -e '.[bench]')"}
    mse = float(evaluate(params, X, y, layout, loss="mse")[0])
    return {"status": "ok", "mse": mse, "seconds": seconds, "generations": generations}


def sine_runs(seed: int, budget: float, scratch: Path) -> list[dict]:
    """This project, MLPRegressor and PGPE on the book's sine, one seed each."""
    arguments = ["--dataset", "sine", "--hidden", "64,64", "--seed", str(seed), "--time-budget", str(budget)]
    result, seconds = run_project(arguments, scratch / f"sine-{seed}")
    runs = [
        {
            "data": "sine", "split": seed, "search": "hillclimb", "status": "ok", "mse": result.best_loss,
            "seconds": seconds, "rounds": result.rounds_completed, "cpus": result.environment.cpus,
            "workers": result.environment.workers, "evaluations": result.evaluations,
        }
    ]  # fmt: skip
    runs.append({"data": "sine", "split": seed, "search": "MLPRegressor (Adam, lr 0.005)", **sine_mlp(seed, budget)})
    runs.append({"data": "sine", "split": seed, "search": "EvoTorch PGPE (ClipUp)", **sine_pgpe(seed, budget)})
    return runs


def summarise(runs: list[dict]) -> str:
    """Per data set and search: the median (and range) over the splits or seeds."""
    lines = ["| data | search | splits/seeds | measure | median | min-max |", "|---|---|---|---|---|---|"]
    for data, measure in (("diabetes", "test_r2"), ("sine", "mse")):
        searches = dict.fromkeys(run["search"] for run in runs if run["data"] == data)
        for search in searches:
            values = [
                run[measure] for run in runs if run["data"] == data and run["search"] == search and measure in run
            ]
            if not values:
                lines.append(f"| {data} | {search} | - | {measure} | skipped | |")
                continue
            splits = ",".join(str(run["split"]) for run in runs if run["data"] == data and run["search"] == search)
            lines.append(
                f"| {data} | {search} | {splits} | {measure} | {np.median(values):.4g} | "
                f"{min(values):.4g} - {max(values):.4g} |"
            )
    return "\n".join(lines) + "\n"


def main() -> None:
    """Run the parts asked for and write their raw results and table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default="diabetes,sine", type=comma_list(choices=("diabetes", "sine")))
    parser.add_argument("--splits", default="0,1,2", type=comma_list(int))
    parser.add_argument("--diabetes-budget", type=float, default=20.0)
    parser.add_argument("--sine-budget", type=float, default=60.0)
    parser.add_argument("--diabetes-flags", default=DEFAULT_DIABETES_FLAGS)
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args()
    splits = args.splits
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    runs: list[dict] = []
    load = os.getloadavg()
    header = {"load_average_at_start": load, "cpus": usable_cpus(), "command": shlex.join(sys.argv)}
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {header['cpus']} CPUs", flush=True)
    with tempfile.TemporaryDirectory() as scratch:
        for split in splits:
            parts = args.parts
            if "diabetes" in parts:
                runs += diabetes_runs(split, args.diabetes_budget, args.diabetes_flags, Path(scratch))
            if "sine" in parts:
                runs += sine_runs(split, args.sine_budget, Path(scratch))
            for run in runs[-4:]:
                print(json.dumps(run), flush=True)
            atomic_write_text(out / "regression.json", json.dumps({**header, "runs": runs}, indent=1) + "\n")
    table = summarise(runs)
    atomic_write_text(out / "regression.md", table)
    print(table)


if __name__ == "__main__":
    main()
