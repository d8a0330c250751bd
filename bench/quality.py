"""Quality follows speed: the loss a search reaches in a fixed time, with this checkout's code or another's.

    python bench/quality.py --out bench/results/quality-after.jsonl
    git worktree add /tmp/before 97f0aa2
    python bench/quality.py --root /tmp/before --out bench/results/quality-before.jsonl
    python bench/quality.py --summarise bench/results/quality-before.jsonl bench/results/quality-after.jsonl

Each run is `search(...)` through the Python API of the code under --root (default: this checkout),
in a fresh process (its own private Ray, 2 workers on 2 cores, the default), one after another:

- digits: scikit-learn's digits, 75/25 stratified split (random_state 0), raw features, net
  64-32-10, learning from all 1,347 training rows (no scaling, nothing held out, no L2, the
  settings older code had); the test accuracy is on the 450 test rows;
- spiral: nnfs spiral_data(100, 3), net 2-64-64-3, its 300 rows; and the chapter's default job,
  spiral 2-64-3 (`python -m coordinator run` as it is), to check that it loses nothing.

The loss is the training loss of the result (the best network at the end: the round running at
the budget finishes). Writes one JSON line per run; --summarise prints a markdown table of the
medians (and min-max) per file and case.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

# Nothing of this checkout is imported here, bench.common included: each run's process imports the project
# from --root (its PYTHONPATH), another checkout, whose bench/ may hold no common.py.
CASES = ("digits 64-32-10", "spiral 2-64-64-3", "spiral 2-64-3")


def one_run(case: str, seed: int, budget: float) -> dict:
    """One search with the code on sys.path; its figures as a dict."""
    import coordinator
    from coordinator import SearchConfig, search

    budget_field = "time_budget" if "time_budget" in SearchConfig.model_fields else "time_budget_s"
    settings = {budget_field: budget, "seed": seed}
    if "scaling" in SearchConfig.model_fields:  # this project's newer defaults off: the same search on both sides
        settings.update(scaling="none", validation_fraction=0.0, l2=0.0)
    if case.startswith("digits"):
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split

        X, y = load_digits(return_X_y=True)
        X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, stratify=y, random_state=0)
        result = search(SearchConfig(layers=(64, 32, 10), **settings), X_train, y_train)
        test_accuracy = float(np.mean(np.argmax(result.predict_proba(X_test), axis=1) == y_test))
    else:
        layers = tuple(int(size) for size in case.split()[1].split("-"))
        result = search(SearchConfig(dataset="spiral", layers=layers, **settings))
        test_accuracy = None
    return {
        "case": case,
        "seed": seed,
        "budget_s": budget,
        "loss": float(result.best_loss),
        "accuracy": float(result.best_accuracy),
        "test_accuracy": test_accuracy,
        "rounds": result.rounds_completed,
        "evaluations": result.evaluations,
        "wall_seconds": result.wall_seconds,
        "code": str(Path(coordinator.__file__).resolve().parents[1]),  # the checkout that ran
    }


def summarise(paths: list[str]) -> None:
    """A markdown table: per file and case, the median and min-max of loss and test accuracy."""
    print("| code | case | runs | loss: median | loss: min-max | test accuracy: median | evaluations: median |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for path in paths:
        runs = [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
        for case in CASES:
            chosen = [run for run in runs if run["case"] == case]
            if not chosen:
                continue
            losses = [run["loss"] for run in chosen]
            tests = [run["test_accuracy"] for run in chosen if run["test_accuracy"] is not None]
            test = f"{np.median(tests):.3f}" if tests else "—"
            evaluations = f"{np.median([run['evaluations'] for run in chosen]):,.0f}"
            print(
                f"| {chosen[0].get('commit', Path(path).stem)} | {case} | {len(chosen)} | {np.median(losses):.4g} "
                f"| {min(losses):.4g} to {max(losses):.4g} | {test} | {evaluations} |"
            )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", default=str(Path(__file__).resolve().parents[1]), help="the checkout to measure")
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--budget", type=float, default=60.0, help="seconds per search")
    parser.add_argument("--out", help="the JSON lines file to append to")
    parser.add_argument("--summarise", nargs="+", metavar="FILE", help="print the table of these files instead")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # case,seed: run one search here (in a fresh process)
    args = parser.parse_args()
    if args.summarise:
        summarise(args.summarise)
        return 0
    if args.one:
        case, seed = args.one.rsplit(",", 1)
        print(json.dumps(one_run(case, int(seed), args.budget)))
        return 0
    if not args.out:
        parser.error("--out: give the file to write")
    root = Path(args.root).resolve()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True)
    environment = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "PYTHONPATH": str(root)}
    for case in args.cases.split(","):
        for seed in map(int, args.seeds.split(",")):
            command = [sys.executable, __file__, "--one", f"{case},{seed}", "--budget", str(args.budget)]
            finished = subprocess.run(command, cwd=root, env=environment, capture_output=True, text=True, check=False)
            if finished.returncode != 0:
                print(finished.stderr[-2000:], file=sys.stderr)
                return 1
            run = {**json.loads(finished.stdout.strip().splitlines()[-1]), "commit": commit.stdout.strip()}
            print(json.dumps(run), flush=True)
            with open(args.out, "a") as out:
                out.write(json.dumps(run) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
