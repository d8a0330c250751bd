"""Ternary and binary digits 64-32-10 at a fixed number of evaluations: the defaults against a few changes.

Usage: python bench/grid_holdout.py [--splits 0,1,2] [--variants ...] [--out bench/results]

For each split S (the 75/25 stratified split of `--dataset digits --data-seed S`, as
bench/real_data.py makes it), each variant runs as a user runs it (`python -m coordinator run
--dataset train.csv --hidden 32 --seed S --quiet` plus its flags), with a fixed count instead of a
time budget: `--rounds R --steps 5000 --climbers 2 --time-budget none --inprocess` (R = 50: 500,000
climber evaluations; 40: 400,000), so its figure is the same at any load and on any machine; scored by
`evaluate` on the test rows. A count, not a timed figure: a variant whose evaluations cost more (more
training rows) gets the same count here, fewer in a time budget.

Writes grid_holdout.jsonl (one line a run) into --out.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a file: this checkout's packages

from bench.common import RESULTS, append_jsonl, comma_list
from bench.user_data import run_project, split_rows, write_csv


def count(rounds: int) -> list[str]:
    """The flags of a search of `rounds` rounds of 2 climbers x 5,000 steps, in one process, with no time limit."""
    return ["--rounds", str(rounds), "--steps", "5000", "--climbers", "2", "--time-budget", "none", "--inprocess"]


VARIANTS = {
    "ternary": ["--weights", "ternary", *count(50)],
    "ternary-no-holdout": ["--weights", "ternary", "--validation-fraction", "0", *count(50)],
    "ternary-no-holdout-400k": ["--weights", "ternary", "--validation-fraction", "0", *count(40)],
    "ternary-minmax": ["--weights", "ternary", "--scaling", "minmax", *count(50)],
    "ternary-l2-0": ["--weights", "ternary", "--l2", "0", *count(50)],
    "binary": ["--weights", "binary", *count(50)],
    "binary-no-holdout": ["--weights", "binary", "--validation-fraction", "0", *count(50)],
}


def main(argv: list[str] | None = None) -> int:
    """Run every (split, variant) and append its test accuracy to grid_holdout.jsonl."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--splits", type=comma_list(int), default="0,1,2", help="split seeds (the 75/25 split and the search's --seed)"
    )
    parser.add_argument(
        "--variants", type=comma_list(choices=VARIANTS), default=",".join(VARIANTS), help=f"of: {', '.join(VARIANTS)}"
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    variants = args.variants
    raw = args.out / "grid_holdout.jsonl"
    for split in args.splits:
        X, y, X_test, y_test = split_rows("digits", split)
        with tempfile.TemporaryDirectory(prefix="hillclimb-grid-") as scratch:
            train, test = Path(scratch) / "train.csv", Path(scratch) / "test.csv"
            write_csv(train, X, y)
            write_csv(test, X_test, y_test)
            for variant in variants:
                run = run_project(train, test, "32", 0, split, VARIANTS[variant])  # the count's flags come last
                line = {"variant": variant, "split": split, "flags": VARIANTS[variant], "status": run["status"]}
                keys = ("test_accuracy", "validation_accuracy", "evaluations", "selected_round", "note")
                line |= {key: run[key] for key in keys if key in run}
                print(json.dumps(line), flush=True)
                append_jsonl(raw, line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
