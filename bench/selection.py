"""Which network to keep, and how to use small data: rules compared on the same climbs, by test accuracy.

Usage: python bench/selection.py [--cases spiral5,spiral3,digits,wine,breast_cancer,iris] [--seeds 0,1,2]
                                 [--folds 5] [--out bench/results] [--name selection]

One climb per (case, seed, way of holding rows out), run in this process for a fixed number of
rounds (2 climbers, the default settings otherwise: a round is what a 2-worker run climbs), so
the comparison is of rules, not of machine speed. After every round, the best network so far is
scored on the training rows, on the held-out rows and on test rows the search never sees; every
rule then picks its round from the same record, and its test accuracy is that round's.

Cases: `spiral5` and `spiral3` are the chapter's spiral (100 points a class, 5 or 3 classes) as
a user's data file (the real-data defaults: standard scaling, L2 0.001), test rows a fresh
spiral drawn with another data seed; `digits`, `wine`, `breast_cancer`, `iris` are split 75/25
as `--dataset NAME --data-seed S` splits them (the test rows are the 25%).

Ways of holding rows out, on the training rows:
- `holdout 0.2`, `holdout 0.1`: the product's stratified split (seed S); rules pick a round by
  the held-out figures: `loss` (lowest held-out loss), `accuracy, then loss` (highest held-out
  accuracy, ties to the lower held-out loss), `accuracy, earliest` (scikit-learn's early stopping),
  `accuracy, latest`, and `last round`.
- `all rows` (nothing held out): the last round; and `refit`: the round a rule picked on the
  `holdout 0.2` climb, taken from this climb (a search of the same seed on all rows: the refit).
- `cv` (small sets only): `--folds` stratified folds, each climbed for the same rounds; the round
  with the highest mean held-out accuracy (ties: the lower mean loss, then the earlier), taken
  from the `all rows` climb.

Writes NAME.json (every round of every climb) and NAME.md (test accuracy per case and rule: mean
and median over the seeds, and the mean training accuracy of the kept network). `--l2 X` runs every
climb with that penalty; `--penalty-table` puts the runs of several penalties side by side.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a file: this checkout's packages

from bench.common import ONE_THREAD, QUIET_RAY, RESULTS, comma_list, environment_defaults, grouped, named_values

environment_defaults(ONE_THREAD, QUIET_RAY)  # before numpy is imported: its BLAS reads them once

import numpy as np  # noqa: E402

from bench.user_data import split_rows  # noqa: E402
from cluster.atomic_files import atomic_write_text  # noqa: E402

# (hidden sizes, rounds): the rounds a 2-core run of the budget climbs (digits 60 s: about 22;
# wine, breast cancer, iris 20 s: about 80, 40, 100; the spirals 60 s: about 250, 0.2 s a round).
CASES = {
    "spiral5": ("64", 250),
    "spiral3": ("64", 250),
    "digits": ("32", 22),
    "wine": ("16", 80),
    "breast_cancer": ("16", 40),
    "iris": ("16", 100),
}
SMALL = ("wine", "breast_cancer", "iris")


def climb(
    X, y, X_test, y_test, held_rows, hidden: str, rounds: int, seed: int, fraction: float, l2: float | None = None
) -> list[dict]:
    """Per round: the best so far on training, held-out (held_rows, or the product's split) and test rows."""
    from coordinator.config import SearchConfig
    from coordinator.rounds.executors import open_executor
    from coordinator.rounds.prepare import prepare_run
    from coordinator.rounds.stepper import SearchStepper
    from workers.network import Layout, evaluate_compiled

    if held_rows is not None:
        kept = np.setdiff1d(np.arange(len(y)), held_rows)
        X_fit, y_fit, X_held, y_held = X[kept], y[kept], X[held_rows], y[held_rows]
        fraction = 0.0
    else:
        X_fit, y_fit, X_held, y_held = X, y, None, None
    config = SearchConfig(
        hidden=tuple(comma_list(int)(hidden)),
        climbers=2,
        rounds=rounds,
        time_budget=None,
        seed=seed,
        validation_fraction=fraction,
        l2=l2,
    )
    prepared = prepare_run(config, X_fit, y_fit)
    layout = Layout(prepared.config.layers)
    test_X = prepared.scaling.apply(X_test)
    if X_held is not None:
        held = (prepared.scaling.apply(X_held), y_held)
    elif prepared.validation is not None:
        held = (prepared.validation.X, prepared.validation.labels)
    else:
        held = None
    records = []
    with open_executor("inprocess", prepared.dataset, prepared.config) as executor:
        stepper = SearchStepper(prepared, executor)
        for _round in range(rounds):
            record = stepper.step()
            params = stepper.best.outcome.params
            row = {"train_loss": record.best_loss, "train_accuracy": record.best_accuracy}
            if held is not None:
                loss, accuracy = evaluate_compiled(params, held[0], held[1], layout)
                row |= {"held_loss": float(loss), "held_accuracy": float(accuracy)}
            loss, accuracy = evaluate_compiled(params, test_X, y_test, layout)
            row |= {"test_loss": float(loss), "test_accuracy": float(accuracy)}
            records.append(row)
    return records


def folds(y: np.ndarray, count: int, seed: int) -> list[np.ndarray]:
    """Stratified folds of the rows (held-out rows of each), from the seed."""
    generator = np.random.default_rng([seed, 0x63760000])
    assigned = np.empty(len(y), dtype=np.int64)
    for label in np.unique(y):
        rows = generator.permutation(np.flatnonzero(y == label))
        assigned[rows] = np.arange(len(rows)) % count
    return [np.flatnonzero(assigned == fold) for fold in range(count)]


def pick(rows: list[dict], rule: str) -> int:
    """The round a rule keeps, from a climb's per-round held-out figures."""
    indices = range(len(rows))
    if rule == "last round":
        return len(rows) - 1
    if rule == "loss":
        return min(indices, key=lambda r: (rows[r]["held_loss"], r))
    if rule == "accuracy, then loss":
        return min(indices, key=lambda r: (-rows[r]["held_accuracy"], rows[r]["held_loss"], r))
    if rule == "accuracy, earliest":
        return min(indices, key=lambda r: (-rows[r]["held_accuracy"], r))
    if rule == "accuracy, latest":
        return min(indices, key=lambda r: (-rows[r]["held_accuracy"], -r))
    raise ValueError(rule)


RULES = ("loss", "accuracy, then loss", "accuracy, earliest", "accuracy, latest", "last round")


def outcomes(climbs: dict) -> list[dict]:
    """Every (way, rule) of one case and seed: the round kept and its figures."""
    picked = []

    def add(way: str, rule: str, rows: list[dict], index: int) -> None:
        picked.append({"way": way, "rule": rule, "round": index, **rows[index]})

    for way in ("holdout 0.2", "holdout 0.1"):
        if way in climbs:
            for rule in RULES:
                add(way, rule, climbs[way], pick(climbs[way], rule))
    if "all rows" in climbs:
        add("all rows", "last round", climbs["all rows"], len(climbs["all rows"]) - 1)
    if "all rows" in climbs and "holdout 0.2" in climbs:
        for rule in RULES[:4]:
            add("refit", rule, climbs["all rows"], pick(climbs["holdout 0.2"], rule))
    fold_climbs = [climbs[key] for key in sorted(climbs) if key.startswith("fold ")]
    if fold_climbs and "all rows" in climbs:
        mean = [
            {
                "held_accuracy": float(np.mean([fold[r]["held_accuracy"] for fold in fold_climbs])),
                "held_loss": float(np.mean([fold[r]["held_loss"] for fold in fold_climbs])),
            }
            for r in range(len(fold_climbs[0]))
        ]
        add("cv", "accuracy, then loss", climbs["all rows"], pick(mean, "accuracy, then loss"))
        add("cv", "accuracy, latest", climbs["all rows"], pick(mean, "accuracy, latest"))
    return picked


def summarise(results: list[dict]) -> str:
    """Test accuracy per case and (way, rule): mean and median over the seeds; kept network's training accuracy."""
    lines = [
        "| case | held out | rule | seeds | test accuracy mean | median | min-max | training accuracy mean "
        "| round mean |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    picked = ({"case": result["case"], **row} for result in results for row in result["picked"])
    for (case, way, rule), rows in grouped(picked, lambda row: (row["case"], row["way"], row["rule"])).items():
        test = np.array([row["test_accuracy"] for row in rows])
        lines.append(
            f"| {case} | {way} | {rule} | {len(rows)} | {test.mean():.4f} | {np.median(test):.4f} | "
            f"{test.min():.4f}-{test.max():.4f} | {np.mean([row['train_accuracy'] for row in rows]):.3f} | "
            f"{np.mean([row['round'] for row in rows]):.1f} |"
        )
    return "\n".join(lines) + "\n"


def penalty_table(named: dict[float, list[str]], out: Path) -> str:
    """Test accuracy of the `holdout 0.2` climbs' kept network (accuracy, then loss) per L2 penalty, and of a
    held-out choice among the penalties (the highest held-out accuracy, then the lower held-out loss, then the
    lower penalty), from the NAME.json files each penalty's runs wrote."""
    kept = {}
    for l2, names in named.items():
        for name in names:
            for result in json.loads((out / f"{name}.json").read_text()):
                for row in result["picked"]:
                    if row["way"] == "holdout 0.2" and row["rule"] == "accuracy, then loss":
                        kept[(result["case"], result["seed"], l2)] = row
    penalties = list(named)
    lines = [
        "| data | " + " | ".join(f"L2 {l2:g}" for l2 in penalties) + " | held-out choice (chosen per seed) |",
        "|---|" + "---:|" * len(penalties) + "---|",
    ]
    for case in CASES:
        seeds = sorted({seed for (name, seed, _l2) in kept if name == case})
        if not seeds:
            continue
        cells = []
        for l2 in penalties:
            rows = [kept.get((case, seed, l2)) for seed in seeds]
            cells.append(f"{np.mean([row['test_accuracy'] for row in rows]):.4f}" if all(rows) else "-")
        chosen = []
        for seed in seeds:
            candidates = {l2: kept[(case, seed, l2)] for l2 in penalties if (case, seed, l2) in kept}
            best = max(candidates, key=lambda l2: (candidates[l2]["held_accuracy"], -candidates[l2]["held_loss"], -l2))
            chosen.append((best, candidates[best]["test_accuracy"]))
        choice = f"{np.mean([accuracy for _l2, accuracy in chosen]):.4f} ({', '.join(f'{l2:g}' for l2, _ in chosen)})"
        lines.append(f"| {case} | " + " | ".join(cells) + f" | {choice} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Climb every case, seed and way; write the per-round record and the table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", default=",".join(CASES), type=comma_list(choices=CASES))
    parser.add_argument("--seeds", default="0,1,2", type=comma_list(int))
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument(
        "--rounds", default="", type=partial(named_values, kind=int), help="override rounds per case: 'iris=50,wine=40'"
    )
    parser.add_argument("--l2", type=float, default=None, help="the L2 penalty of every climb (default: the default)")
    parser.add_argument(
        "--ways", default="", type=comma_list(), help="only these ways, e.g. 'holdout 0.2,all rows,cv' (default: all)"
    )
    parser.add_argument("--out", default=str(RESULTS))
    parser.add_argument("--name", default="selection")
    parser.add_argument(
        "--penalty-table",
        metavar="L2=NAME+NAME,...",
        help="only write NAME.md from earlier runs: the kept network's test accuracy per L2 penalty and a held-out "
        "choice among them, e.g. '0.001=selection,0.01=selection_small_l2_0.01+selection_digits_l2_0.01'",
    )
    args = parser.parse_args(argv)
    if args.penalty_table:
        named = {float(l2): names.split("+") for l2, names in named_values(args.penalty_table).items()}
        table = penalty_table(named, Path(args.out))
        atomic_write_text(Path(args.out) / f"{args.name}.md", table)
        print(table)
        return 0
    rounds_override = args.rounds
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results = []
    started = time.monotonic()
    for case in args.cases:
        hidden, rounds = CASES[case]
        rounds = rounds_override.get(case, rounds)
        for seed in args.seeds:
            X, y, X_test, y_test = split_rows(case, seed)  # as `--data-seed seed` splits them
            ways: dict[str, tuple] = {"holdout 0.2": (None, 0.2), "all rows": (None, 0.0)}
            if case in SMALL:
                ways["holdout 0.1"] = (None, 0.1)
                for index, held in enumerate(folds(y, args.folds, seed)):
                    ways[f"fold {index}"] = (held, 0.0)
            if args.ways:  # 'cv' stands for every fold
                wanted = set(args.ways)
                ways = {way: ways[way] for way in ways if way in wanted or (way.startswith("fold ") and "cv" in wanted)}
            climbs = {}
            for way, (held, fraction) in ways.items():
                climbs[way] = climb(X, y, X_test, y_test, held, hidden, rounds, seed, fraction, args.l2)
                print(
                    json.dumps({"case": case, "seed": seed, "way": way, "last": climbs[way][-1],
                                "elapsed_s": round(time.monotonic() - started, 1)}),
                    flush=True,
                )  # fmt: skip
            results.append({"case": case, "seed": seed, "rounds": rounds, "l2": args.l2, "climbs": climbs,
                            "picked": outcomes(climbs)})  # fmt: skip
            atomic_write_text(out / f"{args.name}.json", json.dumps(results, indent=1))
    table = summarise(results)
    atomic_write_text(out / f"{args.name}.md", table)
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
